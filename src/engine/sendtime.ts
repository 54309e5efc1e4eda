/**
 * Send-time arms: an arm is an hour of the day ("00".."23") or of the week ("mon-00".."sun-23"), and a
 * decision's `sendAt` is the next start of that hour on the recipient's wall clock (IANA time zone)
 * at or after `after`.
 *
 * Wall-clock → instant goes through Intl (no tz database of our own): for a local time L the candidate
 * instants are L − offset for the offsets in force half a day before and after; a candidate counts if
 * it reads back as L. So an hour skipped by a spring-forward gap has no start that day (the next day's
 * is taken), and an hour repeated at fall-back starts at its first occurrence.
 */
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const HOUR_RE = /^([01]\d|2[0-3])$/;
const WEEK_RE = /^(mon|tue|wed|thu|fri|sat|sun)-([01]\d|2[0-3])$/;

export const DAY_HOURS: readonly string[] = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0"));

export interface SendHour {
  hour: number;
  /** 0 = Sunday … 6 = Saturday; undefined for an hour of the day. */
  weekday?: number;
}

export function parseSendTimeKey(key: string): SendHour | undefined {
  let m = HOUR_RE.exec(key);
  if (m) return { hour: Number(m[1]) };
  m = WEEK_RE.exec(key);
  if (m) return { weekday: DAYS.indexOf(m[1] as (typeof DAYS)[number]), hour: Number(m[2]) };
  return undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== "string" || tz === "") return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock of `t` in `tz`, as milliseconds of a UTC date with the same fields. */
function wallMs(t: number, tz: string): number {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(t)) if (part.type !== "literal") p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
}

/** Instants whose wall clock in `tz` reads `wall` (0 in a gap, 2 in a fall-back overlap), ascending. */
function instantsOf(wall: number, tz: string): number[] {
  const out = new Set<number>();
  for (const probe of [wall - 43_200_000, wall + 43_200_000]) {
    const offset = wallMs(probe, tz) - Math.floor(probe / 1000) * 1000;
    const t = wall - offset;
    if (wallMs(t, tz) === wall) out.add(t);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Next start of the hour `key` in `timeZone` at or after `after`. Throws RangeError on a bad key or zone.
 */
export function nextSendAt(key: string, timeZone: string, after: Date): Date {
  const h = parseSendTimeKey(key);
  if (!h) throw new RangeError(`not a send-time arm key: "${key}"`);
  if (!isValidTimeZone(timeZone)) throw new RangeError(`unknown time zone: "${timeZone}"`);
  const a = after.getTime();
  const localNow = new Date(wallMs(a, timeZone));
  // Start a day early: the wall date of `after` may lag its instant near an offset change.
  for (let d = -1; d <= 9; d++) {
    const day = Date.UTC(localNow.getUTCFullYear(), localNow.getUTCMonth(), localNow.getUTCDate() + d);
    if (h.weekday !== undefined && new Date(day).getUTCDay() !== h.weekday) continue;
    for (const t of instantsOf(day + h.hour * 3_600_000, timeZone)) if (t >= a) return new Date(t);
  }
  throw new RangeError(`no start of hour "${key}" in ${timeZone} within 9 days of ${after.toISOString()}`);
}
