/**
 * The queries that feed the report (report.ts): hourly cells per arm straight from decisions and valid,
 * attributed events ("direct"), the same cells from the rollup table, invalid-traffic credits per reason,
 * and the IPS sums over the decision log; plus the rollup refresh that keeps arm_hourly equal to the direct
 * computation.
 *
 * A unit of the delta method is one decision's events within one hour; an arm's per-decision cost (send
 * cost, arms.cost) is a unit of its own in the decision's hour. Hours are UTC, as epoch seconds.
 */
import { type SQL, sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import type { IpsSums } from "./bandit.ts";
import {
  buildReport,
  type CampaignReport,
  type Granularity,
  type InvalidCell,
  type Objective,
  type ReportCell,
} from "./report.ts";
import { AGGREGATE_FIELDS } from "./roi.ts";
import { buildSegments, MISSING, quantilePositions, type SegmentCell, type SegmentReport } from "./segments.ts";

const HOUR = 3_600_000;
const hourExpr = (col: ReturnType<typeof sql>) => sql`(floor(extract(epoch from ${col}) / 3600) * 3600)::bigint`;
const iso = (ms: number) => new Date(ms).toISOString();

type CellRow = { arm_key: string; hour: string | number; seg?: string } & Record<string, number | string>;

function toCells(r: CellRow[]): ReportCell[] {
  return r.map((x) => {
    const cell = { armKey: x.arm_key, periodStart: Number(x.hour) * 1000 } as ReportCell;
    for (const f of AGGREGATE_FIELDS) cell[f] = Number(x[f] ?? 0);
    return cell;
  });
}

/** Builds a segment key (text, never null) from a decision's context column. */
export type SegmentExpr = (context: SQL) => SQL;

/** Hourly cells per arm over [from, to), computed from the events and decisions themselves. */
export async function directCells(db: Db, campaignId: string, from: number, to: number): Promise<ReportCell[]> {
  return toCells(await cellRows(db, campaignId, from, to, null));
}

/** Hourly cells per segment and arm over [from, to): events take the segment of their decision's context. */
export async function segmentCells(
  db: Db,
  campaignId: string,
  from: number,
  to: number,
  segment: SegmentExpr,
): Promise<SegmentCell[]> {
  const r = await cellRows(db, campaignId, from, to, segment);
  return toCells(r).map((c, i) => ({ ...c, segment: String(r[i].seg) }));
}

async function cellRows(db: Db, campaignId: string, from: number, to: number, segment: SegmentExpr | null) {
  const evSeg = segment ? segment(sql`dd.context`) : sql`''::text`;
  const evJoin = segment ? sql`join decisions dd on dd.id = e.decision_id` : sql``;
  const dSeg = segment ? segment(sql`d.context`) : sql`''::text`;
  return rows<CellRow>(
    db,
    sql`with ev as (
          select e.arm_key, e.decision_id, ${hourExpr(sql`e.occurred_at`)} as hour, ${evSeg} as seg,
            count(*) filter (where e.type = 'impression')::float8 as imp,
            count(*) filter (where e.type = 'click')::float8 as clk,
            count(*) filter (where e.type = 'conversion')::float8 as conv,
            coalesce(sum(e.value) filter (where e.type = 'conversion'), 0)::float8 as rev,
            coalesce(sum(e.cost), 0)::float8 as cost
          from events e ${evJoin}
          where e.campaign_id = ${campaignId}::uuid and e.attributed and e.invalid_reason is null
            and e.occurred_at >= ${iso(from)}::timestamptz and e.occurred_at < ${iso(to)}::timestamptz
          group by 1, 2, 3, 4
        ), u as (
          select arm_key, hour, seg, count(*)::float8 as units, sum(imp) as imp, sum(clk) as clk, sum(conv) as conv, sum(rev) as rev, sum(cost) as cost,
            sum(rev * rev) as srr, sum(cost * cost) as scc, sum(rev * cost) as src, sum(conv * conv) as skk, sum(cost * conv) as sck
          from ev group by 1, 2, 3
        ), d as (
          select d.arm_key, ${hourExpr(sql`d.created_at`)} as hour, ${dSeg} as seg, count(*)::float8 as n, max(coalesce(a.cost, 0))::float8 as arm_cost
          from decisions d left join arms a on a.campaign_id = d.campaign_id and a.key = d.arm_key
          where d.campaign_id = ${campaignId}::uuid and d.served and d.created_at >= ${iso(from)}::timestamptz and d.created_at < ${iso(to)}::timestamptz
          group by 1, 2, 3
        )
        select coalesce(u.arm_key, d.arm_key) as arm_key, coalesce(u.hour, d.hour) as hour, coalesce(u.seg, d.seg) as seg,
          coalesce(d.n, 0) as "decisions",
          coalesce(u.imp, 0) as "impressions", coalesce(u.clk, 0) as "clicks", coalesce(u.conv, 0) as "conversions",
          coalesce(u.rev, 0) as "revenue",
          coalesce(u.cost, 0) + coalesce(d.n * d.arm_cost, 0) as "cost",
          coalesce(u.units, 0) + case when coalesce(d.arm_cost, 0) > 0 then d.n else 0 end as "units",
          coalesce(u.srr, 0) as "sumRevenueSq",
          coalesce(u.scc, 0) + coalesce(d.n * d.arm_cost * d.arm_cost, 0) as "sumCostSq",
          coalesce(u.src, 0) as "sumRevenueCost", coalesce(u.skk, 0) as "sumConversionsSq", coalesce(u.sck, 0) as "sumCostConversions"
        from u full outer join d on u.arm_key = d.arm_key and u.hour = d.hour and u.seg = d.seg
        order by 2, 3, 1`,
  );
}

/** Hourly cells per arm over [from, to) from the rollup table. */
export async function rollupCells(db: Db, campaignId: string, from: number, to: number): Promise<ReportCell[]> {
  const r = await rows<CellRow>(
    db,
    sql`select arm_key, hour, decisions as "decisions", impressions as "impressions", clicks as "clicks", conversions as "conversions",
          revenue as "revenue", cost as "cost", units as "units", sum_revenue_sq as "sumRevenueSq", sum_cost_sq as "sumCostSq",
          sum_revenue_cost as "sumRevenueCost", sum_conversions_sq as "sumConversionsSq", sum_cost_conversions as "sumCostConversions"
        from arm_hourly where campaign_id = ${campaignId}::uuid and hour >= ${Math.floor(from / 1000)} and hour < ${Math.ceil(to / 1000)}
        order by hour, arm_key`,
  );
  return toCells(r);
}

/** An invalid-traffic row as both drivers return it (numbers may come back as strings). */
interface InvalidRow {
  reason: string;
  hour: string | number;
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
}

const toInvalidCell = (x: InvalidRow): InvalidCell & { hour: number } => ({
  reason: x.reason,
  hour: Number(x.hour),
  impressions: Number(x.impressions),
  clicks: Number(x.clicks),
  conversions: Number(x.conversions),
  revenue: Number(x.revenue),
  cost: Number(x.cost),
});

/** Invalid-traffic credits per reason and hour over [from, to) (any attribution: fraud is fraud). */
export async function directInvalid(
  db: Db,
  campaignId: string,
  from: number,
  to: number,
): Promise<(InvalidCell & { hour: number })[]> {
  const r = await rows<InvalidRow>(
    db,
    sql`select invalid_reason as reason, ${hourExpr(sql`occurred_at`)} as hour,
          count(*) filter (where type = 'impression')::float8 as impressions,
          count(*) filter (where type = 'click')::float8 as clicks,
          count(*) filter (where type = 'conversion')::float8 as conversions,
          coalesce(sum(value) filter (where type = 'conversion'), 0)::float8 as revenue,
          coalesce(sum(cost), 0)::float8 as cost
        from events where campaign_id = ${campaignId}::uuid and invalid_reason is not null
          and occurred_at >= ${iso(from)}::timestamptz and occurred_at < ${iso(to)}::timestamptz
        group by 1, 2 order by 2, 1`,
  );
  return r.map(toInvalidCell);
}

export async function rollupInvalid(
  db: Db,
  campaignId: string,
  from: number,
  to: number,
): Promise<(InvalidCell & { hour: number })[]> {
  const r = await rows<InvalidRow>(
    db,
    sql`select reason, hour, impressions, clicks, conversions, revenue, cost from invalid_hourly
        where campaign_id = ${campaignId}::uuid and hour >= ${Math.floor(from / 1000)} and hour < ${Math.ceil(to / 1000)} order by hour, reason`,
  );
  return r.map(toInvalidCell);
}

/**
 * IPS sums over the decisions made in [from, to), with each decision's running reward (the objective's,
 * valid attributed events only). The even split is over the arms active now (the log does not keep K).
 */
export async function ipsSumsQuery(db: Db, campaignId: string, from: number, to: number): Promise<IpsSums> {
  const [r] = await rows<{ n: number; sr: number; se: number; sd: number }>(
    db,
    sql`with k as (select greatest(count(*), 1)::float8 as k from arms where campaign_id = ${campaignId}::uuid and status = 'active')
        select count(*)::float8 as n, coalesce(sum(reward), 0)::float8 as sr,
          coalesce(sum(reward / (k.k * propensity)), 0)::float8 as se,
          coalesce(sum(power(reward - reward / (k.k * propensity), 2)), 0)::float8 as sd
        from decisions, k
        where campaign_id = ${campaignId}::uuid and served and propensity > 0
          and created_at >= ${iso(from)}::timestamptz and created_at < ${iso(to)}::timestamptz`,
  );
  return { n: Number(r.n), sumReward: Number(r.sr), sumEven: Number(r.se), sumDiffSq: Number(r.sd) };
}

/**
 * Rewrites the rollups of the hours overlapping [from, to) from a direct computation, one transaction per
 * day of hours (each slice stays well inside the connections' statement timeout). Returns the cells written.
 */
export async function refreshRollups(db: Db, campaignId: string, from: number, to: number): Promise<number> {
  const h0 = Math.floor(from / HOUR) * HOUR;
  const h1 = Math.ceil(Math.max(to, h0 + 1) / HOUR) * HOUR;
  let written = 0;
  for (let s = h0; s < h1; s += 24 * HOUR)
    written += await refreshSlice(db, campaignId, s, Math.min(h1, s + 24 * HOUR));
  return written;
}

async function refreshSlice(db: Db, campaignId: string, h0: number, h1: number): Promise<number> {
  return db.transaction(async (tx) => {
    // One rewrite of a campaign's rollups at a time (the job, the fraud review, a decision import): two
    // overlapping delete-then-insert rewrites collided on arm_hourly's key (a 500 for the second).
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`rollups:${campaignId}`}, 0))`);
    const cells = await directCells(tx as unknown as Db, campaignId, h0, h1);
    const invalid = await directInvalid(tx as unknown as Db, campaignId, h0, h1);
    await tx.execute(
      sql`delete from arm_hourly where campaign_id = ${campaignId}::uuid and hour >= ${h0 / 1000} and hour < ${h1 / 1000}`,
    );
    await tx.execute(
      sql`delete from invalid_hourly where campaign_id = ${campaignId}::uuid and hour >= ${h0 / 1000} and hour < ${h1 / 1000}`,
    );
    for (let i = 0; i < cells.length; i += 500) {
      const chunk = cells.slice(i, i + 500);
      await tx.execute(sql`insert into arm_hourly (campaign_id, arm_key, hour, decisions, impressions, clicks, conversions, revenue, cost, units,
          sum_revenue_sq, sum_cost_sq, sum_revenue_cost, sum_conversions_sq, sum_cost_conversions)
        values ${sql.join(
          chunk.map(
            (c) =>
              sql`(${campaignId}::uuid, ${c.armKey}, ${c.periodStart / 1000}, ${sql.join(
                AGGREGATE_FIELDS.map((f) => sql`${c[f]}::float8`),
                sql`, `,
              )})`,
          ),
          sql`, `,
        )}`);
    }
    for (let i = 0; i < invalid.length; i += 500) {
      const chunk = invalid.slice(i, i + 500);
      await tx.execute(sql`insert into invalid_hourly (campaign_id, reason, hour, impressions, clicks, conversions, revenue, cost)
        values ${sql.join(
          chunk.map(
            (c) =>
              sql`(${campaignId}::uuid, ${c.reason}, ${c.hour}, ${c.impressions}::float8, ${c.clicks}::float8, ${c.conversions}::float8, ${c.revenue}::float8, ${c.cost}::float8)`,
          ),
          sql`, `,
        )}`);
    }
    return cells.length;
  });
}

export interface ReportQuery {
  from: number;
  to: number;
  granularity: Granularity;
  /**
   * "direct": everything from the events. "rollup": whole hours before `rollupBefore` from arm_hourly,
   * the rest direct (so the current, still-changing hours are always exact).
   */
  source?: "direct" | "rollup";
  rollupBefore?: number;
  seed?: number;
}

/** The campaign report from the database; null if the campaign is not in the workspace. */
export async function campaignReport(
  db: Db,
  workspaceId: string,
  campaignId: string,
  q: ReportQuery,
): Promise<CampaignReport | null> {
  const [camp] = await rows<{ objective: Objective }>(
    db,
    sql`select objective from campaigns where id = ${campaignId}::uuid and workspace_id = ${workspaceId}::uuid`,
  );
  if (!camp) return null;
  const armRows = await rows<{ key: string }>(
    db,
    sql`select key from arms where campaign_id = ${campaignId}::uuid order by position`,
  );
  // Periods are whole hours (or days): the range is widened to whole hours so rollups and events agree.
  const from = Math.floor(q.from / HOUR) * HOUR;
  const to = Math.ceil(q.to / HOUR) * HOUR;
  let cells: ReportCell[];
  let invalid: InvalidCell[];
  if (q.source === "rollup") {
    const split = Math.min(Math.max(from, Math.floor((q.rollupBefore ?? to) / HOUR) * HOUR), to);
    cells = [...(await rollupCells(db, campaignId, from, split)), ...(await directCells(db, campaignId, split, to))];
    invalid = [
      ...(await rollupInvalid(db, campaignId, from, split)),
      ...(await directInvalid(db, campaignId, split, to)),
    ];
  } else {
    cells = await directCells(db, campaignId, from, to);
    invalid = await directInvalid(db, campaignId, from, to);
  }
  return buildReport({
    campaignId,
    from,
    to,
    granularity: q.granularity,
    objective: camp.objective,
    armKeys: armRows.map((a) => a.key),
    cells,
    invalid,
    ips: await ipsSumsQuery(db, campaignId, from, to),
    seed: q.seed,
  });
}

/** A `segment` that is not a context feature of the campaign (declared, or present in its decision log). */
export class UnknownSegmentError extends Error {
  constructor(
    readonly feature: string,
    readonly known: string[],
  ) {
    super(
      `unknown segment "${feature}": not a context feature of this campaign` +
        (known.length ? ` (known: ${known.join(", ")})` : " (its decisions carry no context)"),
    );
  }
}

/**
 * The report by segment of one context feature over [from, to): categorical features by level, numeric ones
 * in `buckets` quantile buckets of the period's decisions. The feature's type is the declared one
 * (campaign.contextFeatures), else inferred from the logged contexts (numeric when every value is a number).
 * Null if the campaign is not in the workspace; UnknownSegmentError if the feature is unknown.
 */
export async function segmentReport(
  db: Db,
  workspaceId: string,
  campaignId: string,
  q: ReportQuery & { feature: string; buckets?: number },
): Promise<SegmentReport | null> {
  const [camp] = await rows<{ objective: Objective; features: { name: string; type: "numeric" | "categorical" }[] }>(
    db,
    sql`select objective, context_features as features from campaigns where id = ${campaignId}::uuid and workspace_id = ${workspaceId}::uuid`,
  );
  if (!camp) return null;
  const from = Math.floor(q.from / HOUR) * HOUR;
  const to = Math.ceil(q.to / HOUR) * HOUR;
  const inPeriod = sql`campaign_id = ${campaignId}::uuid and created_at >= ${iso(from)}::timestamptz and created_at < ${iso(to)}::timestamptz`;
  const f = q.feature;
  let type = camp.features.find((x) => x.name === f)?.type;
  if (!type) {
    const seen = await rows<{ t: string }>(
      db,
      sql`select distinct jsonb_typeof(context -> ${f}) as t from decisions where ${inPeriod} and context ? ${f}`,
    );
    if (seen.length === 0) {
      const keys = await rows<{ k: string }>(
        db,
        sql`select distinct jsonb_object_keys(context) as k from (select context from decisions
              where ${inPeriod} and jsonb_typeof(context) = 'object' limit 10000) c order by 1 limit 50`,
      );
      const known = [...new Set([...camp.features.map((x) => x.name), ...keys.map((k) => k.k)])].sort();
      throw new UnknownSegmentError(f, known);
    }
    type = seen.every((s) => s.t === "number") ? "numeric" : "categorical";
  }
  let edges: number[] = [];
  let expr: SegmentExpr;
  if (type === "numeric") {
    const positions = quantilePositions(q.buckets ?? 4);
    if (positions.length > 0) {
      const [r] = await rows<{ e: number[] | string | null }>(
        db,
        sql`select percentile_cont(array[${sql.join(
          positions.map((p) => sql`${p}::float8`),
          sql`, `,
        )}]) within group (order by (context ->> ${f})::float8) as e
            from decisions where ${inPeriod} and jsonb_typeof(context -> ${f}) = 'number'`,
      );
      const raw = typeof r?.e === "string" ? r.e.replace(/[{}]/g, "").split(",").filter(Boolean) : (r?.e ?? []);
      edges = [...new Set(raw.map(Number).filter(Number.isFinite))].sort((a, b) => a - b);
    }
    const arr =
      edges.length > 0
        ? sql`array[${sql.join(
            edges.map((e) => sql`${e}::float8`),
            sql`, `,
          )}]`
        : null;
    expr = (ctx) =>
      arr
        ? sql`(case when jsonb_typeof(${ctx} -> ${f}) = 'number' then width_bucket((${ctx} ->> ${f})::float8, ${arr})::text else ${MISSING} end)`
        : sql`(case when jsonb_typeof(${ctx} -> ${f}) = 'number' then '0' else ${MISSING} end)`;
  } else {
    expr = (ctx) => sql`coalesce(${ctx} ->> ${f}, ${MISSING})`;
  }
  const armRows = await rows<{ key: string }>(
    db,
    sql`select key from arms where campaign_id = ${campaignId}::uuid order by position`,
  );
  return buildSegments({
    campaignId,
    from,
    to,
    objective: camp.objective,
    armKeys: armRows.map((a) => a.key),
    spec: { feature: f, type, edges },
    cells: await segmentCells(db, campaignId, from, to, expr),
    seed: q.seed,
  });
}

/** Per arm, over the whole campaign: conversions (distinct decisions), revenue and event cost (valid, attributed). */
export async function armEventTotals(
  db: Db,
  campaignId: string,
): Promise<Map<string, { conversions: number; revenue: number; eventCost: number }>> {
  const r = await rows<{ arm_key: string; conversions: number; revenue: number; event_cost: number }>(
    db,
    sql`select arm_key, count(distinct decision_id) filter (where type = 'conversion')::int as conversions,
          coalesce(sum(value) filter (where type = 'conversion'), 0)::float8 as revenue, coalesce(sum(cost), 0)::float8 as event_cost
        from events where campaign_id = ${campaignId}::uuid and attributed and invalid_reason is null group by arm_key`,
  );
  return new Map(
    r.map((x) => [
      x.arm_key,
      { conversions: Number(x.conversions), revenue: Number(x.revenue), eventCost: Number(x.event_cost) },
    ]),
  );
}

/** Each arm's share of the decisions logged in [from, to) (the real allocation, whatever the contexts were). */
export async function decisionShares(
  db: Db,
  campaignId: string,
  from: number,
  to: number,
): Promise<Map<string, number>> {
  const r = await rows<{ arm_key: string; n: number }>(
    db,
    sql`select arm_key, count(*)::float8 as n from decisions where campaign_id = ${campaignId}::uuid and served
          and created_at >= ${iso(from)}::timestamptz and created_at < ${iso(to)}::timestamptz group by arm_key`,
  );
  const total = r.reduce((s, x) => s + Number(x.n), 0);
  return new Map(r.map((x) => [x.arm_key, total > 0 ? Number(x.n) / total : 0]));
}
