/**
 * The budget day: a calendar day in the workspace's IANA time zone, as a half-open UTC interval
 * [startMs, endMs). DST days last 23 or 25 hours; the plan (pacing.ts) is spread over the real length.
 * Pure: the instant is passed in.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(tz, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** Local wall-clock fields of an instant in `tz`. */
function fields(tz: string, ms: number) {
  const o: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(ms))) if (p.type !== "literal") o[p.type] = Number(p.value);
  return o as { year: number; month: number; day: number; hour: number; minute: number; second: number };
}

/** Offset of `tz` from UTC at the instant, in ms (local = utc + offset). */
export function offsetMs(tz: string, ms: number): number {
  const f = fields(tz, ms);
  const asUtc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The UTC instant of local midnight of the given local date (the first instant of that day). */
function localMidnight(tz: string, y: number, m: number, d: number): number {
  const guess = Date.UTC(y, m - 1, d);
  // Two passes settle the offset (it can differ on either side of a DST change).
  let t = guess - offsetMs(tz, guess);
  t = guess - offsetMs(tz, t);
  // A zone whose DST change happens at midnight has no 00:00: the day starts at the first instant after.
  const f = fields(tz, t);
  if (f.day !== d) t += 3_600_000 - (t % 60_000);
  return t;
}

export interface BudgetDay {
  /** The local date, YYYY-MM-DD. */
  day: string;
  startMs: number;
  endMs: number;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** The budget day that contains the instant `ms` in `tz`. */
export function budgetDay(tz: string, ms: number): BudgetDay {
  const f = fields(tz, ms);
  const startMs = localMidnight(tz, f.year, f.month, f.day);
  const next = new Date(Date.UTC(f.year, f.month - 1, f.day + 1));
  const endMs = localMidnight(tz, next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
  return { day: `${f.year}-${pad(f.month)}-${pad(f.day)}`, startMs, endMs };
}

/** Local hour of day (0–23) of an instant. */
export function localHour(tz: string, ms: number): number {
  return fields(tz, ms).hour;
}
