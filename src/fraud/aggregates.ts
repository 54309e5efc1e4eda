/**
 * What the detectors read: per-entity counts per hour and per minute instead of single events, so a scan
 * over a big campaign moves a few thousand rows rather than a day of events. The scan builds these in SQL
 * (scan.ts `loadAggregates`, GROUP BY in the database); `aggregateTraffic` builds exactly the same from
 * in-memory events (tests, measure.ts), so the detectors cannot tell which.
 *
 * Only the things that need single events stay events: repeated clicks on one decision by one source (the
 * duplicate rule, a tiny subset) and the conversions with their decision and first click (attribution
 * checks; conversions are a few percent of the traffic).
 */
import type { ConversionLink } from "./links.ts";
import type { TrafficEvent, Window } from "./types.ts";

export type RateEntityType = "publisher" | "placement";
export type BurstEntityType = "ip" | "publisher" | "placement";

export const MINUTE = 60_000;
export const HOUR = 3_600_000;

/** Valid events of one publisher or placement in one UTC hour. */
export interface HourCell {
  entityType: RateEntityType;
  entity: string;
  /** Epoch ms of the hour start. */
  hour: number;
  impressions: number;
  clicks: number;
  conversions: number;
}

/** Valid clicks of one source in one minute of the short window. */
export interface MinuteCell {
  entityType: BurstEntityType;
  entity: string;
  /** Epoch ms of the minute start. */
  minute: number;
  clicks: number;
}

/** Valid non-conversion events of one user agent in one hour of the short window. */
export interface UserAgentCell {
  userAgent: string;
  hour: number;
  impressions: number;
  clicks: number;
}

/** A prior for a rate test: the typical logit of the entities elsewhere, weighing as `weight` entities. */
export interface RatePrior {
  logit: number;
  weight: number;
  /** Between-entity standard deviation of the logit, when known from enough entities. */
  tau?: number;
}

/** What the workspace's other campaigns say, for campaigns with little history or few entities. */
export interface WorkspacePrior {
  /** Valid clicks per entity per minute, per entity type (the cold-start burst baseline). */
  clicksPerEntityMinute: Partial<Record<BurstEntityType, number>>;
  ctr?: Partial<Record<RateEntityType, RatePrior>>;
  cvr?: RatePrior;
}

export interface TrafficAggregates {
  /** End of the scan (a whole minute). */
  now: number;
  short: Window;
  long: Window;
  /** Earliest event of the campaign within the lookback (any validity), null without events. */
  firstEventAt: number | null;
  /** Long window, valid events. */
  hours: HourCell[];
  /** Short window, valid clicks. */
  minutes: MinuteCell[];
  /** Start of the burst baseline: max(short.start − baselineMinutes, the minute of the first event). */
  baselineStart: number;
  /** Valid clicks in [baselineStart, short.start) per entity that has clicks in the short window. */
  baseline: { entityType: BurstEntityType; entity: string; clicks: number }[];
  /** Totals over the baseline of all entities of each type (the pooled rate). */
  baselineTotals: Record<BurstEntityType, { clicks: number; entities: number }>;
  /** Short window, valid impressions and clicks. */
  userAgents: UserAgentCell[];
  /** Valid clicks from `repeatFrom` to now of (decision, ip, user agent) groups with ≥ 2 clicks. */
  repeatClicks: TrafficEvent[];
  /** Valid conversions of the long window. */
  links: ConversionLink[];
  prior?: WorkspacePrior;
}

/** The windows one scan looks at. */
export interface ScanWindows {
  now: number;
  short: Window;
  long: Window;
  /** Burst baseline start before `firstEventAt` is known. */
  baselineFrom: number;
  /** Repeated clicks from here (the duplicate rule looks a little before the short window). */
  repeatFrom: number;
  /** Earliest time any aggregate needs. */
  from: number;
}

export function scanWindows(
  now: number,
  c: { shortWindowMinutes: number; longWindowMinutes: number; baselineMinutes: number },
): ScanWindows {
  const end = Math.floor(now / MINUTE) * MINUTE;
  const short = { start: end - c.shortWindowMinutes * MINUTE, end };
  const long = { start: end - c.longWindowMinutes * MINUTE, end };
  const baselineFrom = short.start - c.baselineMinutes * MINUTE;
  const repeatFrom = short.start - 10 * MINUTE;
  return { now: end, short, long, baselineFrom, repeatFrom, from: Math.min(long.start, baselineFrom, repeatFrom) };
}

const floorTo = (t: number, step: number) => Math.floor(t / step) * step;
const entityOf = (e: TrafficEvent, t: BurstEntityType): string | null =>
  t === "ip" ? e.ip : t === "publisher" ? e.publisher : e.placement;
const BURST_TYPES: readonly BurstEntityType[] = ["ip", "publisher", "placement"];
const RATE_TYPES: readonly RateEntityType[] = ["publisher", "placement"];

/** The aggregates of in-memory events (all given events count as valid) — the same as the scan's SQL. */
export function aggregateTraffic(
  events: readonly TrafficEvent[],
  links: readonly ConversionLink[],
  w: ScanWindows,
  prior?: WorkspacePrior,
): TrafficAggregates {
  let first = Infinity;
  for (const e of events)
    if (e.occurredAt >= w.from && e.occurredAt < w.now && e.occurredAt < first) first = e.occurredAt;
  const firstEventAt = first === Infinity ? null : first;
  const baselineStart = Math.min(
    w.short.start,
    Math.max(w.baselineFrom, firstEventAt === null ? w.short.start : floorTo(firstEventAt, MINUTE)),
  );
  const hours = new Map<string, HourCell>();
  const minutes = new Map<string, MinuteCell>();
  const uas = new Map<string, UserAgentCell>();
  const base = new Map<string, { entityType: BurstEntityType; entity: string; clicks: number }>();
  const baseEntities = Object.fromEntries(BURST_TYPES.map((t) => [t, new Set<string>()])) as Record<
    BurstEntityType,
    Set<string>
  >;
  const totals = Object.fromEntries(BURST_TYPES.map((t) => [t, { clicks: 0, entities: 0 }])) as Record<
    BurstEntityType,
    { clicks: number; entities: number }
  >;
  const repeat = new Map<string, TrafficEvent[]>();
  for (const e of events) {
    const t = e.occurredAt;
    if (t >= w.now) continue;
    if (t >= w.long.start)
      for (const type of RATE_TYPES) {
        const k = type === "publisher" ? e.publisher : e.placement;
        if (k === null) continue;
        const h = floorTo(t, HOUR);
        const key = `${type}\u0000${k}\u0000${h}`;
        let c = hours.get(key);
        if (!c)
          hours.set(key, (c = { entityType: type, entity: k, hour: h, impressions: 0, clicks: 0, conversions: 0 }));
        if (e.type === "impression") c.impressions++;
        else if (e.type === "click") c.clicks++;
        else c.conversions++;
      }
    if (t >= w.short.start && e.type !== "conversion" && e.userAgent) {
      const h = floorTo(t, HOUR);
      const key = `${e.userAgent}\u0000${h}`;
      let c = uas.get(key);
      if (!c) uas.set(key, (c = { userAgent: e.userAgent, hour: h, impressions: 0, clicks: 0 }));
      if (e.type === "click") c.clicks++;
      else c.impressions++;
    }
    if (e.type !== "click") continue;
    if (t >= w.repeatFrom && e.decisionId && (e.ip || e.userAgent)) {
      const key = `${e.decisionId}\u0000${e.ip ?? ""}\u0000${e.userAgent ?? ""}`;
      let g = repeat.get(key);
      if (!g) repeat.set(key, (g = []));
      g.push(e);
    }
    for (const type of BURST_TYPES) {
      const k = entityOf(e, type);
      if (k === null) continue;
      if (t >= w.short.start) {
        const m = floorTo(t, MINUTE);
        const key = `${type}\u0000${k}\u0000${m}`;
        let c = minutes.get(key);
        if (!c) minutes.set(key, (c = { entityType: type, entity: k, minute: m, clicks: 0 }));
        c.clicks++;
      } else if (t >= baselineStart) {
        const key = `${type}\u0000${k}`;
        let c = base.get(key);
        if (!c) base.set(key, (c = { entityType: type, entity: k, clicks: 0 }));
        c.clicks++;
        totals[type].clicks++;
        baseEntities[type].add(k);
      }
    }
  }
  for (const t of BURST_TYPES) totals[t].entities = baseEntities[t].size;
  const inWindow = new Set([...minutes.values()].map((m) => `${m.entityType}\u0000${m.entity}`));
  return {
    now: w.now,
    short: w.short,
    long: w.long,
    firstEventAt,
    hours: [...hours.values()],
    minutes: [...minutes.values()],
    baselineStart,
    baseline: [...base.entries()].filter(([k]) => inWindow.has(k)).map(([, v]) => v),
    baselineTotals: totals,
    userAgents: [...uas.values()],
    repeatClicks: [...repeat.values()].filter((g) => g.length >= 2).flat(),
    links: links.filter((l) => l.occurredAt >= w.long.start && l.occurredAt < w.now),
    prior,
  };
}

/** One other campaign's click exposure for one entity type: clicks, distinct entities, minutes of traffic. */
export interface ClickExposure {
  entityType: BurstEntityType;
  clicks: number;
  entities: number;
  minutes: number;
}

/** One entity of another campaign over the long window. */
export interface EntityTotals {
  entityType: RateEntityType;
  impressions: number;
  clicks: number;
  conversions: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2;
}

/** The typical logit (median), weighing as one entity, with the spread (1.4826·MAD) from five entities on. */
export function ratePrior(logits: readonly number[]): RatePrior | undefined {
  if (logits.length === 0) return undefined;
  const m = median(logits);
  const mad = median(logits.map((l) => Math.abs(l - m)));
  return { logit: m, weight: 1, ...(logits.length >= 5 ? { tau: Math.max(0.1, 1.4826 * mad) } : {}) };
}

const logitOf = (k: number, n: number) => Math.log((k + 0.5) / (n - k + 0.5));

/**
 * The workspace prior from the other campaigns' summaries: clicks per entity-minute per entity type, and the
 * typical CTR / conversion rate of their entities with at least `minTrials` impressions / `minClicks` clicks.
 */
export function workspacePriorOf(
  exposure: readonly ClickExposure[],
  entities: readonly EntityTotals[],
  minTrials = 500,
  minClicks = 100,
): WorkspacePrior | undefined {
  if (exposure.length === 0 && entities.length === 0) return undefined;
  const clicksPerEntityMinute: WorkspacePrior["clicksPerEntityMinute"] = {};
  for (const t of BURST_TYPES) {
    let k = 0;
    let x = 0;
    for (const e of exposure) if (e.entityType === t) (k += e.clicks), (x += e.entities * e.minutes);
    if (x > 0) clicksPerEntityMinute[t] = k / x;
  }
  const ctr = (t: RateEntityType) =>
    ratePrior(
      entities
        .filter((e) => e.entityType === t && e.impressions >= minTrials)
        .map((e) => logitOf(e.clicks, e.impressions)),
    );
  return {
    clicksPerEntityMinute,
    ctr: { publisher: ctr("publisher"), placement: ctr("placement") },
    cvr: ratePrior(
      entities
        .filter((e) => e.entityType === "publisher" && e.clicks >= minClicks)
        .map((e) => logitOf(e.conversions, e.clicks)),
    ),
  };
}

/** What one campaign's aggregates contribute to another campaign's workspace prior (measure.ts, tests). */
export function summaryOf(agg: TrafficAggregates): { exposure: ClickExposure[]; entities: EntityTotals[] } {
  const minutes = agg.firstEventAt === null ? 0 : (agg.now - Math.max(agg.baselineStart, agg.firstEventAt)) / MINUTE;
  const exposure = BURST_TYPES.map((t) => {
    const inWindow = agg.minutes.filter((m) => m.entityType === t);
    const names = new Set(inWindow.map((m) => m.entity));
    const base = agg.baselineTotals[t];
    return {
      entityType: t,
      clicks: base.clicks + inWindow.reduce((a, m) => a + m.clicks, 0),
      entities: Math.max(base.entities, names.size),
      minutes,
    };
  });
  const by = new Map<string, EntityTotals>();
  for (const h of agg.hours) {
    const key = `${h.entityType}\u0000${h.entity}`;
    let e = by.get(key);
    if (!e) by.set(key, (e = { entityType: h.entityType, impressions: 0, clicks: 0, conversions: 0 }));
    e.impressions += h.impressions;
    e.clicks += h.clicks;
    e.conversions += h.conversions;
  }
  return { exposure, entities: [...by.values()] };
}
