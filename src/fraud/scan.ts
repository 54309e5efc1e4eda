/**
 * The fraud scan: reads a campaign's traffic as SQL-side aggregates (per entity per hour / minute, see
 * aggregates.ts), runs the detectors (detect.ts, pure), records each finding and marks the events it covers
 * invalid — only the flagged entity's events inside the anomalous window (a burst's minutes, an outlier's
 * hours) — then has the campaign's arm statistics rebuilt without them (fraud-aware learning: what flagged
 * events taught is taken back).
 *
 * - Two phases: single-event rules and bursts first, recorded; then the aggregates are read again (without
 *   what the first phase invalidated) for the rate, value and timing tests; once more if that changed
 *   anything (a conversion whose click was just invalidated has no valid click left).
 * - What the ingest gate marked (declared bots, blocklisted sources) is recorded as findings too,
 *   aggregated per source and hour (`recordIngestFindings`), so the review queue shows it.
 * - Idempotent: windows end on a whole minute, and a finding overlapping an earlier open or confirmed
 *   finding of the same detector and entity extends that one instead of adding a row; re-running a
 *   window changes nothing (already-invalid events are left alone).
 * - A dismissed finding is respected: an overlapping new finding on the same entity is not recorded.
 * - Each finding remembers the events it invalidated (anomaly_events), so dismissing it restores exactly
 *   those (`reviewAnomaly`).
 */
import { sql, type SQL } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import { recomputeArmStats } from "../engine/recompute.ts";
import {
  HOUR,
  MINUTE,
  type BurstEntityType,
  type RateEntityType,
  type ScanWindows,
  type TrafficAggregates,
  type WorkspacePrior,
  workspacePriorOf,
} from "./aggregates.ts";
import { DETECTION_DEFAULTS, detectPhase, windowsOf, type DetectionConfig, type Phase } from "./detect.ts";
import type { ConversionLink } from "./links.ts";
import { mergeIntervals, type EntityType, type Finding, type Interval, type TrafficEvent } from "./types.ts";

export interface ScanOptions {
  detection?: DetectionConfig;
  /** Rebuilds a campaign's statistics and reloads them in memory (Engine.recompute); default: the store's recompute only. */
  recompute?: (campaignId: string) => Promise<void>;
  /** Use the workspace's other campaigns as a prior (cold start, few entities); default true. */
  workspacePrior?: boolean;
  /**
   * Whether this scan of the campaign runs the rate, value and timing tests (the 24 h phase) too; default
   * always. The every-minute job runs them every `ratesEveryMinutes` per campaign and the short-window phase
   * (bots, duplicates, bursts) every minute.
   */
  ratesDue?: (campaignId: string) => boolean;
}

export interface ScanResult {
  campaignId: string;
  findings: number;
  recorded: number;
  invalidated: number;
  /** [first, last] occurred_at (ms) of the events whose validity changed, for the rollup refresh; null if none. */
  touched: [number, number] | null;
  /** Ids of the findings recorded or extended by this scan (ingest findings included). */
  anomalyIds: string[];
}

const ENTITY_COLUMN = {
  ip: sql`source_ip`,
  user_agent: sql`source_user_agent`,
  publisher: sql`source_publisher`,
  placement: sql`source_placement`,
} as const;

/** The detector name of the findings that record what the ingest gate blocked from the blocklist. */
export const BLOCKLISTED = "blocklisted";

/** The events' invalid_reason a finding's detector writes (and a dismissal restores). */
export function invalidReasonOf(detector: string, entityType: string): string {
  return detector === BLOCKLISTED ? `blocklist:${entityType}` : detector;
}

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (t: Date | string) => new Date(t).getTime();
const hourMs = (col: SQL) => sql`(floor(extract(epoch from ${col}) / 3600) * 3600000)::bigint`;
const minuteMs = (col: SQL) => sql`(floor(extract(epoch from ${col}) / 60) * 60000)::bigint`;

/**
 * The scan's aggregates, computed by the database (GROUP BY), equal to `aggregateTraffic` over the same
 * events. With a phase, only what that phase's detectors read (the rest empty): "events" reads the short
 * window and the burst baseline, "rates" the long window's hour cells and conversions.
 */
export async function loadAggregates(
  db: Db,
  campaignId: string,
  w: ScanWindows,
  phase?: Phase,
): Promise<TrafficAggregates> {
  const ev = phase !== "rates";
  const rt = phase !== "events";
  const c = sql`campaign_id = ${campaignId}::uuid and invalid_reason is null`;
  const between = (a: number, b: number) =>
    sql`occurred_at >= ${iso(a)}::timestamptz and occurred_at < ${iso(b)}::timestamptz`;
  const [first] = await rows<{ t: Date | string | null }>(
    db,
    sql`select min(occurred_at) as t from events where ${c} and ${between(w.from, w.now)}`,
  );
  const firstEventAt = first?.t ? ms(first.t) : null;
  const baselineStart = Math.min(
    w.short.start,
    Math.max(w.baselineFrom, firstEventAt === null ? w.short.start : Math.floor(firstEventAt / MINUTE) * MINUTE),
  );
  const hours = !rt
    ? []
    : await rows<{ t: RateEntityType; entity: string; h: string | number; i: number; k: number; v: number }>(
        db,
        sql`select case when grouping(source_publisher) = 0 then 'publisher' else 'placement' end as t,
          coalesce(source_publisher, source_placement) as entity, h,
          count(*) filter (where type = 'impression')::int as i, count(*) filter (where type = 'click')::int as k,
          count(*) filter (where type = 'conversion')::int as v
        from (select source_publisher, source_placement, type, ${hourMs(sql`occurred_at`)} as h
              from events where ${c} and ${between(w.long.start, w.now)}) x
        group by grouping sets ((source_publisher, h), (source_placement, h))
        having (grouping(source_publisher) = 0 and source_publisher is not null)
            or (grouping(source_placement) = 0 and source_placement is not null)`,
      );
  const minutes = !ev
    ? []
    : await rows<{ t: BurstEntityType; entity: string; m: string | number; k: number }>(
        db,
        sql`select case when grouping(source_ip) = 0 then 'ip' when grouping(source_publisher) = 0 then 'publisher' else 'placement' end as t,
          coalesce(source_ip, source_publisher, source_placement) as entity, m, count(*)::int as k
        from (select source_ip, source_publisher, source_placement, ${minuteMs(sql`occurred_at`)} as m
              from events where ${c} and type = 'click' and ${between(w.short.start, w.now)}) x
        group by grouping sets ((source_ip, m), (source_publisher, m), (source_placement, m))
        having (grouping(source_ip) = 0 and source_ip is not null)
            or (grouping(source_publisher) = 0 and source_publisher is not null)
            or (grouping(source_placement) = 0 and source_placement is not null)`,
      );
  const base = sql`${c} and type = 'click' and ${between(baselineStart, w.short.start)}`;
  const [tot] = !ev
    ? [{ ip_k: 0, ip_n: 0, publisher_k: 0, publisher_n: 0, placement_k: 0, placement_n: 0 }]
    : await rows<Record<string, number>>(
        db,
        sql`select count(source_ip)::int as ip_k, count(distinct source_ip)::int as ip_n,
          count(source_publisher)::int as publisher_k, count(distinct source_publisher)::int as publisher_n,
          count(source_placement)::int as placement_k, count(distinct source_placement)::int as placement_n
        from events where ${base}`,
      );
  const baseline: TrafficAggregates["baseline"] = [];
  for (const type of ["ip", "publisher", "placement"] as const) {
    const col = ENTITY_COLUMN[type];
    const inWindow = [...new Set(minutes.filter((m) => m.t === type).map((m) => m.entity))];
    for (let i = 0; i < inWindow.length; i += 1000) {
      const chunk = inWindow.slice(i, i + 1000);
      const r = await rows<{ entity: string; k: number }>(
        db,
        sql`select ${col} as entity, count(*)::int as k from events where ${base}
            and ${col} in (${sql.join(
              chunk.map((e) => sql`${e}`),
              sql`, `,
            )}) group by 1`,
      );
      for (const x of r) baseline.push({ entityType: type, entity: x.entity, clicks: x.k });
    }
  }
  const uas = !ev
    ? []
    : await rows<{ ua: string; h: string | number; i: number; k: number }>(
        db,
        sql`select source_user_agent as ua, ${hourMs(sql`occurred_at`)} as h,
          count(*) filter (where type = 'impression')::int as i, count(*) filter (where type = 'click')::int as k
        from events where ${c} and type <> 'conversion' and source_user_agent is not null and ${between(w.short.start, w.now)}
        group by 1, 2`,
      );
  const repeat = !ev
    ? []
    : await rows<EventRow>(
        db,
        sql`select event_id, decision_id, type, value, cost, occurred_at, source_ip, source_user_agent, source_publisher, source_placement
        from (select e.*, count(*) over (partition by decision_id, source_ip, source_user_agent) as n
              from events e where ${c} and type = 'click' and (source_ip is not null or source_user_agent is not null)
              and ${between(w.repeatFrom, w.now)}) x
        where n >= 2`,
      );
  return {
    now: w.now,
    short: w.short,
    long: w.long,
    firstEventAt,
    hours: hours.map((r) => ({
      entityType: r.t,
      entity: r.entity,
      hour: Number(r.h),
      impressions: Number(r.i),
      clicks: Number(r.k),
      conversions: Number(r.v),
    })),
    minutes: minutes.map((r) => ({ entityType: r.t, entity: r.entity, minute: Number(r.m), clicks: Number(r.k) })),
    baselineStart,
    baseline,
    baselineTotals: {
      ip: { clicks: Number(tot.ip_k), entities: Number(tot.ip_n) },
      publisher: { clicks: Number(tot.publisher_k), entities: Number(tot.publisher_n) },
      placement: { clicks: Number(tot.placement_k), entities: Number(tot.placement_n) },
    },
    userAgents: uas.map((r) => ({ userAgent: r.ua, hour: Number(r.h), impressions: Number(r.i), clicks: Number(r.k) })),
    repeatClicks: repeat.map(toTraffic),
    links: rt ? await loadConversionLinks(db, campaignId, new Date(w.long.start), new Date(w.now)) : [],
  };
}

type EventRow = {
  event_id: string;
  decision_id: string;
  type: TrafficEvent["type"];
  value: number;
  cost: number;
  occurred_at: Date | string;
  source_ip: string | null;
  source_user_agent: string | null;
  source_publisher: string | null;
  source_placement: string | null;
};

const toTraffic = (e: EventRow): TrafficEvent => ({
  id: e.event_id,
  decisionId: e.decision_id,
  type: e.type,
  value: Number(e.value),
  cost: Number(e.cost),
  occurredAt: ms(e.occurred_at),
  ip: e.source_ip,
  userAgent: e.source_user_agent,
  publisher: e.source_publisher,
  placement: e.source_placement,
});

/** Valid conversions in [from, to) with their decision's time and the first valid click on it. */
export async function loadConversionLinks(db: Db, campaignId: string, from: Date, to: Date): Promise<ConversionLink[]> {
  const r = await rows<{
    event_id: string;
    source_publisher: string | null;
    occurred_at: Date | string;
    value: number;
    decision_id: string;
    decision_at: Date | string | null;
    first_click_at: Date | string | null;
    had_click: boolean;
  }>(
    db,
    sql`select e.event_id, e.source_publisher, e.occurred_at, e.value, e.decision_id, d.created_at as decision_at,
          (select min(c.occurred_at) from events c where c.decision_id = e.decision_id and c.type = 'click' and c.invalid_reason is null) as first_click_at,
          exists (select 1 from events c where c.decision_id = e.decision_id and c.type = 'click') as had_click
        from events e left join decisions d on d.id = e.decision_id
        where e.campaign_id = ${campaignId}::uuid and e.type = 'conversion' and e.invalid_reason is null
        and e.occurred_at >= ${from.toISOString()}::timestamptz and e.occurred_at < ${to.toISOString()}::timestamptz`,
  );
  return r.map((c) => ({
    id: c.event_id,
    publisher: c.source_publisher,
    occurredAt: ms(c.occurred_at),
    value: Number(c.value),
    decisionId: c.decision_id,
    decisionAt: c.decision_at === null ? null : ms(c.decision_at),
    firstClickAt: c.first_click_at === null ? null : ms(c.first_click_at),
    hadClick: Boolean(c.had_click),
  }));
}

const PRIOR_TTL = 10 * MINUTE;
const priorCache = new Map<string, { at: number; prior: WorkspacePrior | undefined }>();

/**
 * What the workspace's other campaigns say (cached for ten minutes per campaign): clicks per entity-minute
 * per entity type over the burst baseline and window, and the typical logit CTR (per entity type) and
 * conversion rate of their entities over the long window — the median, weighing as one entity, with the
 * spread (1.4826·MAD) when five or more entities give it. Undefined without other campaigns' traffic.
 */
export async function loadWorkspacePrior(
  db: Db,
  campaign: { id: string; workspaceId: string },
  w: ScanWindows,
  minTrials = 500,
): Promise<WorkspacePrior | undefined> {
  const key = `${campaign.id}`;
  const hit = priorCache.get(key);
  if (hit && Math.abs(hit.at - w.now) < PRIOR_TTL) return hit.prior;
  const others = sql`e.campaign_id in (select id from campaigns where workspace_id = ${campaign.workspaceId}::uuid and id <> ${campaign.id}::uuid)
      and e.invalid_reason is null`;
  const clicks = await rows<Record<string, number | string>>(
    db,
    sql`select campaign_id, count(source_ip)::int as ip_k, count(distinct source_ip)::int as ip_n,
          count(source_publisher)::int as publisher_k, count(distinct source_publisher)::int as publisher_n,
          count(source_placement)::int as placement_k, count(distinct source_placement)::int as placement_n,
          (extract(epoch from max(occurred_at) - min(occurred_at)) / 60 + 1)::float8 as minutes
        from events e where ${others} and type = 'click'
        and occurred_at >= ${iso(w.baselineFrom)}::timestamptz and occurred_at < ${iso(w.now)}::timestamptz
        group by campaign_id`,
  );
  const rates = await rows<{ t: string; i: number; k: number; v: number }>(
    db,
    sql`select case when grouping(source_publisher) = 0 then 'publisher' else 'placement' end as t,
          count(*) filter (where type = 'impression')::int as i, count(*) filter (where type = 'click')::int as k,
          count(*) filter (where type = 'conversion')::int as v
        from events e where ${others}
        and occurred_at >= ${iso(w.long.start)}::timestamptz and occurred_at < ${iso(w.now)}::timestamptz
        group by grouping sets ((campaign_id, source_publisher), (campaign_id, source_placement))
        having (grouping(source_publisher) = 0 and source_publisher is not null)
            or (grouping(source_placement) = 0 and source_placement is not null)`,
  );
  const exposure = clicks.flatMap((r) =>
    (["ip", "publisher", "placement"] as const).map((t) => ({
      entityType: t,
      clicks: Number(r[`${t}_k`]),
      entities: Number(r[`${t}_n`]),
      minutes: Number(r.minutes),
    })),
  );
  const entities = rates.map((r) => ({
    entityType: r.t as RateEntityType,
    impressions: Number(r.i),
    clicks: Number(r.k),
    conversions: Number(r.v),
  }));
  const prior = workspacePriorOf(exposure, entities, minTrials);
  if (priorCache.size > 10_000) priorCache.clear();
  priorCache.set(key, { at: w.now, prior });
  return prior;
}

export async function scanCampaign(
  db: Db,
  campaign: { id: string; workspaceId: string },
  now: Date,
  opts: ScanOptions = {},
): Promise<ScanResult> {
  const config = opts.detection ?? DETECTION_DEFAULTS;
  const w = windowsOf(now.getTime(), config);
  const result: ScanResult = {
    campaignId: campaign.id,
    findings: 0,
    recorded: 0,
    invalidated: 0,
    touched: null,
    anomalyIds: [],
  };
  const ids = new Set<string>();
  let prior: WorkspacePrior | undefined;
  let priorLoaded = opts.workspacePrior === false;
  const record = async (findings: Finding[]): Promise<number> => {
    let changed = 0;
    for (const f of findings) {
      result.findings++;
      const r = await recordFinding(db, campaign, f);
      if (!r) continue;
      result.recorded++;
      ids.add(r.id);
      changed += r.invalidated;
      if (r.touched) result.touched = widen(result.touched, r.touched);
    }
    result.invalidated += changed;
    return changed;
  };
  const aggregates = async (phase: Phase) => {
    const agg = await loadAggregates(db, campaign.id, w, phase);
    if (!priorLoaded && needsPrior(agg, config)) {
      prior = await loadWorkspacePrior(db, campaign, w, config.ctr ? config.ctr.minTrials : 500);
      priorLoaded = true;
    }
    return { ...agg, prior };
  };
  await record(detectPhase(await aggregates("events"), "events", config));
  const rates = opts.ratesDue ? opts.ratesDue(campaign.id) : true;
  for (let pass = 0; rates && pass < 2; pass++) {
    const changed = await record(detectPhase(await aggregates("rates"), "rates", config));
    if (changed === 0) break;
  }
  for (const id of await recordIngestFindings(db, campaign, Math.floor(w.short.start / HOUR) * HOUR, w.now))
    ids.add(id);
  result.anomalyIds = [...ids];
  if (result.invalidated > 0) await (opts.recompute ?? ((id: string) => recomputeArmStats(db, id)))(campaign.id);
  return result;
}

/** A prior matters for a cold start (little history) or few entities (rate tests). */
function needsPrior(agg: TrafficAggregates, c: DetectionConfig): boolean {
  if (agg.firstEventAt === null) return false;
  if (
    c.clickBursts &&
    agg.minutes.length > 0 &&
    (agg.short.start - agg.baselineStart) / MINUTE < c.clickBursts.minBaselineMinutes
  )
    return true;
  const robustFrom = c.ctr ? c.ctr.robustFrom : 8;
  for (const t of ["publisher", "placement"] as const) {
    const n = new Set(agg.hours.filter((h) => h.entityType === t).map((h) => h.entity)).size;
    if (n > 0 && n < robustFrom) return true;
  }
  return false;
}

/** Scans every active campaign (of one workspace, when given) that has events inside the detectors' lookback. */
export async function scanAll(
  db: Db,
  now: Date,
  opts: ScanOptions & { workspaceId?: string } = {},
): Promise<ScanResult[]> {
  const w = windowsOf(now.getTime(), opts.detection ?? DETECTION_DEFAULTS);
  const campaigns = await rows<{ id: string; workspace_id: string }>(
    db,
    sql`select c.id, c.workspace_id from campaigns c where c.status = 'active'
        ${opts.workspaceId ? sql`and c.workspace_id = ${opts.workspaceId}::uuid` : sql``}
        and exists (select 1 from events e where e.campaign_id = c.id and e.occurred_at >= ${iso(w.from)}::timestamptz) order by c.id`,
  );
  const out: ScanResult[] = [];
  for (const c of campaigns) out.push(await scanCampaign(db, { id: c.id, workspaceId: c.workspace_id }, now, opts));
  return out;
}

/**
 * A scan now (POST /v1/anomalies/scan): one campaign of the workspace — null when it is not one of its
 * campaigns — or every active campaign of the workspace with traffic in the lookback.
 */
export async function scanNow(
  db: Db,
  workspaceId: string,
  campaignId: string | undefined,
  now: Date,
  opts: ScanOptions = {},
): Promise<ScanResult[] | null> {
  if (!campaignId) return scanAll(db, now, { ...opts, workspaceId });
  const [c] = await rows<{ id: string }>(
    db,
    sql`select id from campaigns where id = ${campaignId}::uuid and workspace_id = ${workspaceId}::uuid`,
  );
  return c ? [await scanCampaign(db, { id: campaignId, workspaceId }, now, opts)] : null;
}

/** The stored rows of these findings of the workspace, newest window first. */
export async function anomalyRows<T>(db: Db, workspaceId: string, ids: readonly string[]): Promise<T[]> {
  if (ids.length === 0) return [];
  return rows<T>(
    db,
    sql`select * from anomalies where workspace_id = ${workspaceId}::uuid and id in (${sql.join(
      ids.map((id) => sql`${id}::uuid`),
      sql`, `,
    )}) order by window_end desc, id`,
  );
}

function widen(a: [number, number] | null, b: [number, number]): [number, number] {
  return a ? [Math.min(a[0], b[0]), Math.max(a[1], b[1])] : b;
}

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/**
 * The row of this finding: an overlapping open or confirmed one of the same detector and entity, extended
 * (window, intervals, evidence) — or a new one; null when a dismissed one overlaps it.
 */
async function upsertAnomaly(
  tx: Tx,
  campaign: { id: string; workspaceId: string },
  f: Finding,
): Promise<{ id: string; intervals: Interval[] | null } | null> {
  const ws = iso(f.windowStart);
  const we = iso(f.windowEnd);
  const overlapping = await rows<{ id: string; status: string; intervals: [string, string][] | string | null }>(
    tx,
    sql`select id, status, intervals from anomalies where campaign_id = ${campaign.id}::uuid and detector = ${f.detector}
        and entity_type = ${f.entityType} and entity = ${f.entity}
        and window_start < ${we}::timestamptz and window_end > ${ws}::timestamptz
        order by (status = 'dismissed') desc, created_at limit 1 for update`,
  );
  const o = overlapping[0];
  if (o?.status === "dismissed") return null;
  const details = JSON.stringify(f.details);
  const evidenceStart = iso(f.evidenceStart ?? f.windowStart);
  const evidenceEnd = iso(f.evidenceEnd ?? f.windowEnd);
  if (o) {
    const before = typeof o.intervals === "string" ? JSON.parse(o.intervals) : o.intervals;
    let merged: Interval[] | null = null;
    if (f.intervals && before)
      merged = mergeIntervals([...before.map(([a, b]: [string, string]): Interval => [ms(a), ms(b)]), ...f.intervals]);
    const stored = merged ? JSON.stringify(merged.map(([a, b]) => [iso(a), iso(b)])) : null;
    await tx.execute(sql`update anomalies set window_start = least(window_start, ${ws}::timestamptz), window_end = greatest(window_end, ${we}::timestamptz),
        evidence_start = least(coalesce(evidence_start, ${evidenceStart}::timestamptz), ${evidenceStart}::timestamptz),
        evidence_end = greatest(coalesce(evidence_end, ${evidenceEnd}::timestamptz), ${evidenceEnd}::timestamptz),
        intervals = ${stored}::jsonb,
        statistic = ${f.statistic}, threshold = ${f.threshold}, details = ${details}::jsonb, updated_at = now() where id = ${o.id}::uuid`);
    return { id: o.id, intervals: f.intervals ?? null };
  }
  const stored = f.intervals ? JSON.stringify(f.intervals.map(([a, b]) => [iso(a), iso(b)])) : null;
  const ins = await rows<{ id: string }>(
    tx,
    sql`insert into anomalies (workspace_id, campaign_id, detector, entity_type, entity, category, statistic, threshold,
          window_start, window_end, intervals, evidence_start, evidence_end, details)
        values (${campaign.workspaceId}::uuid, ${campaign.id}::uuid, ${f.detector}, ${f.entityType}, ${f.entity}, ${f.category},
                ${f.statistic}, ${f.threshold}, ${ws}::timestamptz, ${we}::timestamptz, ${stored}::jsonb,
                ${evidenceStart}::timestamptz, ${evidenceEnd}::timestamptz, ${details}::jsonb)
        returning id`,
  );
  return { id: ins[0].id, intervals: f.intervals ?? null };
}

/** `occurred_at` inside one of the intervals (or the window). */
function inIntervals(f: Finding): SQL {
  const xs = f.intervals ?? [[f.windowStart, f.windowEnd] as Interval];
  return sql`(${sql.join(
    xs.map(([a, b]) => sql`(occurred_at >= ${iso(a)}::timestamptz and occurred_at < ${iso(b)}::timestamptz)`),
    sql` or `,
  )})`;
}

/** Records (or extends) one finding and invalidates its events; null when a dismissal covers it. */
async function recordFinding(
  db: Db,
  campaign: { id: string; workspaceId: string },
  f: Finding,
): Promise<{ id: string; invalidated: number; touched: [number, number] | null } | null> {
  return db.transaction(async (tx) => {
    const row = await upsertAnomaly(tx, campaign, f);
    if (!row) return null;
    const id = row.id;
    let changed: { event_id: string; occurred_at: Date | string }[] = [];
    if (f.eventIds && f.eventIds.length > 0) {
      for (let i = 0; i < f.eventIds.length; i += 1000) {
        const chunk = f.eventIds.slice(i, i + 1000);
        changed.push(
          ...(await rows<{ event_id: string; occurred_at: Date | string }>(
            tx,
            sql`update events set invalid_reason = ${f.detector}
                where workspace_id = ${campaign.workspaceId}::uuid and campaign_id = ${campaign.id}::uuid and invalid_reason is null
                and event_id in (${sql.join(
                  chunk.map((e) => sql`${e}`),
                  sql`, `,
                )})
                returning event_id, occurred_at`,
          )),
        );
      }
    } else if (!f.eventIds && f.entityType !== "campaign") {
      const col = ENTITY_COLUMN[f.entityType];
      const types = f.eventTypes
        ? sql`and type in (${sql.join(
            f.eventTypes.map((t) => sql`${t}`),
            sql`, `,
          )})`
        : sql``;
      changed = await rows(
        tx,
        sql`update events set invalid_reason = ${f.detector}
            where campaign_id = ${campaign.id}::uuid and invalid_reason is null and ${col} = ${f.entity} ${types}
            and occurred_at >= ${iso(f.windowStart)}::timestamptz and occurred_at < ${iso(f.windowEnd)}::timestamptz
            and ${inIntervals(f)}
            returning event_id, occurred_at`,
      );
    }
    let touched: [number, number] | null = null;
    for (let i = 0; i < changed.length; i += 1000) {
      const chunk = changed.slice(i, i + 1000);
      await tx.execute(sql`insert into anomaly_events (anomaly_id, workspace_id, event_id)
          values ${sql.join(
            chunk.map((c) => sql`(${id}::uuid, ${campaign.workspaceId}::uuid, ${c.event_id})`),
            sql`, `,
          )}
          on conflict do nothing`);
      for (const c of chunk) {
        const t = ms(c.occurred_at);
        touched = widen(touched, [t, t]);
      }
    }
    if (changed.length)
      await tx.execute(
        sql`update anomalies set invalidated_events = invalidated_events + ${changed.length} where id = ${id}::uuid`,
      );
    return { id, invalidated: changed.length, touched };
  });
}

const INGEST_ENTITY = sql`case invalid_reason when 'declared_bot' then source_user_agent
    when 'blocklist:ip' then source_ip when 'blocklist:user_agent' then source_user_agent
    when 'blocklist:publisher' then source_publisher when 'blocklist:placement' then source_placement end`;

/**
 * Findings for what the ingest gate (or a retroactive block) marked invalid — declared bots and blocklisted
 * sources — one per source and UTC hour in [from, to), so they show in GET /v1/anomalies. They invalidate
 * nothing new: they link the events already marked (so a dismissal restores them) and count them. Returns
 * the ids of the findings recorded or updated.
 */
export async function recordIngestFindings(
  db: Db,
  campaign: { id: string; workspaceId: string },
  from: number,
  to: number,
): Promise<string[]> {
  const cells = await rows<{
    reason: string;
    entity: string | null;
    h: string | number;
    i: number;
    k: number;
    v: number;
  }>(
    db,
    sql`select invalid_reason as reason, ${INGEST_ENTITY} as entity, ${hourMs(sql`occurred_at`)} as h,
          count(*) filter (where type = 'impression')::int as i, count(*) filter (where type = 'click')::int as k,
          count(*) filter (where type = 'conversion')::int as v
        from events where campaign_id = ${campaign.id}::uuid
        and occurred_at >= ${iso(from)}::timestamptz and occurred_at < ${iso(to)}::timestamptz
        and (invalid_reason = 'declared_bot' or invalid_reason like 'blocklist:%')
        group by 1, 2, 3`,
  );
  const ids: string[] = [];
  for (const c of cells) {
    if (c.entity === null) continue;
    const h = Number(c.h);
    const blocked = c.reason.startsWith("blocklist:");
    const entityType = (blocked ? c.reason.slice("blocklist:".length) : "user_agent") as EntityType;
    const n = Number(c.i) + Number(c.k) + Number(c.v);
    const f: Finding = {
      detector: blocked ? BLOCKLISTED : "declared_bot",
      entityType,
      entity: c.entity,
      category: "GIVT",
      statistic: n,
      threshold: 1,
      windowStart: h,
      windowEnd: h + HOUR,
      details: {
        source: blocked ? "blocklist" : "ingest_gate",
        reason: c.reason,
        impressions: Number(c.i),
        clicks: Number(c.k),
        conversions: Number(c.v),
      },
    };
    const id = await db.transaction(async (tx) => {
      const row = await upsertAnomaly(tx, campaign, f);
      if (!row) return null;
      await tx.execute(sql`insert into anomaly_events (anomaly_id, workspace_id, event_id)
          select ${row.id}::uuid, workspace_id, event_id from events
          where campaign_id = ${campaign.id}::uuid and invalid_reason = ${c.reason} and ${INGEST_ENTITY} = ${c.entity}
          and occurred_at >= ${iso(h)}::timestamptz and occurred_at < ${iso(h + HOUR)}::timestamptz
          on conflict do nothing`);
      await tx.execute(sql`update anomalies set invalidated_events = (select count(*) from anomaly_events where anomaly_id = ${row.id}::uuid)
          where id = ${row.id}::uuid`);
      return row.id;
    });
    if (id) ids.push(id);
  }
  return ids;
}

export interface ReviewResult {
  id: string;
  campaignId: string;
  status: "confirmed" | "dismissed";
  /** Events whose validity changed by this review (restored on dismiss, re-invalidated on re-confirm). */
  changed: number;
  touched: [number, number] | null;
}

/**
 * A person's verdict on a finding. Dismiss: the events it invalidated are valid again. Confirm: they stay
 * invalid (and are invalidated again if the finding had been dismissed). The caller rebuilds the campaign's
 * statistics when `changed > 0` (the API does it through Engine.recompute).
 */
export async function reviewAnomaly(
  db: Db,
  workspaceId: string,
  id: string,
  status: "confirmed" | "dismissed",
  note?: string,
): Promise<ReviewResult | null> {
  return db.transaction(async (tx) => {
    const [a] = await rows<{ id: string; campaign_id: string; detector: string; entity_type: string; status: string }>(
      tx,
      sql`select id, campaign_id, detector, entity_type, status from anomalies where id = ${id}::uuid and workspace_id = ${workspaceId}::uuid for update`,
    );
    if (!a) return null;
    const reason = invalidReasonOf(a.detector, a.entity_type);
    let changed: { occurred_at: Date | string }[] = [];
    if (status === "dismissed" && a.status !== "dismissed") {
      changed = await rows(
        tx,
        sql`update events e set invalid_reason = null from anomaly_events ae
            where ae.anomaly_id = ${id}::uuid and e.workspace_id = ae.workspace_id and e.event_id = ae.event_id and e.invalid_reason = ${reason}
            returning e.occurred_at`,
      );
    } else if (status === "confirmed" && a.status === "dismissed") {
      changed = await rows(
        tx,
        sql`update events e set invalid_reason = ${reason} from anomaly_events ae
            where ae.anomaly_id = ${id}::uuid and e.workspace_id = ae.workspace_id and e.event_id = ae.event_id and e.invalid_reason is null
            returning e.occurred_at`,
      );
    }
    await tx.execute(
      sql`update anomalies set status = ${status}, reviewed_at = now(), updated_at = now(), review_note = ${note ?? null} where id = ${id}::uuid`,
    );
    let touched: [number, number] | null = null;
    for (const c of changed) {
      const t = new Date(c.occurred_at).getTime();
      touched = widen(touched, [t, t]);
    }
    return { id, campaignId: a.campaign_id, status, changed: changed.length, touched };
  });
}
