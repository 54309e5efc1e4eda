/**
 * Queries of spend_counters (schema-budget.ts): the commutative upsert the decision commit and the event
 * ingest add to their statements, and the reads of the budget ledger (src/budget/ledger.ts) and the
 * budget report. Rows merged per key and applied in key order, so concurrent writers lock in one order.
 */
import { sql, type SQL } from "drizzle-orm";
import { uuidArray } from "./arm-stats.ts";
import { HOUR_MS } from "./buckets.ts";
import type { PacerState } from "../budget/pacing.ts";
import { rows, type Db } from "./db.ts";

/** What a decision or an event adds to one row of spend_counters. */
export interface SpendIncrement {
  campaignId: string;
  /** '' for a decision answered without an arm. */
  armKey: string;
  /** The budget day (workspace-local date, YYYY-MM-DD). */
  day: string;
  /** Hours since the epoch (UTC) of the instant counted. */
  hour: number;
  requests: number;
  served: number;
  decisionCost: number;
  eventCost: number;
  conversions: number;
  revenue: number;
}

export const SPEND_FIELDS = ["requests", "served", "decisionCost", "eventCost", "conversions", "revenue"] as const;

/** Sums the increments per (campaign, arm, day, hour), sorted by that key. */
export function mergeSpend(incs: Iterable<SpendIncrement>): SpendIncrement[] {
  const by = new Map<string, SpendIncrement>();
  for (const i of incs) {
    const k = `${i.campaignId}\u0000${i.armKey}\u0000${i.day}\u0000${i.hour}`;
    const r = by.get(k);
    if (!r) by.set(k, { ...i });
    else for (const f of SPEND_FIELDS) r[f] += i[f];
  }
  // Each row's sort key built once (a comparator building both keys built 2 n log n strings).
  const keyed = [...by.values()].map((r) => ({
    r,
    k: `${r.campaignId}\u0000${r.armKey}\u0000${r.day}\u0000${String(r.hour).padStart(12, "0")}`,
  }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((x) => x.r);
}

/** `insert into spend_counters … on conflict add` (one JSON parameter); usable as a CTE. */
export function upsertSpend(incs: Iterable<SpendIncrement>): SQL {
  const rows = mergeSpend(incs).map((r) => ({
    campaign_id: r.campaignId,
    arm_key: r.armKey,
    day: r.day,
    hour: r.hour,
    requests: r.requests,
    served: r.served,
    decision_cost: r.decisionCost,
    event_cost: r.eventCost,
    conversions: r.conversions,
    revenue: r.revenue,
  }));
  return sql`insert into spend_counters (campaign_id, arm_key, day, hour_start, requests, served, decision_cost, event_cost, conversions, revenue)
    select campaign_id, arm_key, day, to_timestamp(hour * 3600), requests, served, decision_cost, event_cost, conversions, revenue
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as s(campaign_id uuid, arm_key text, day date, hour float8, requests float8,
      served float8, decision_cost float8, event_cost float8, conversions float8, revenue float8)
    order by campaign_id, arm_key, day, hour
    on conflict (campaign_id, arm_key, day, hour_start) do update set
      requests = spend_counters.requests + excluded.requests, served = spend_counters.served + excluded.served,
      decision_cost = spend_counters.decision_cost + excluded.decision_cost, event_cost = spend_counters.event_cost + excluded.event_cost,
      conversions = spend_counters.conversions + excluded.conversions, revenue = spend_counters.revenue + excluded.revenue,
      updated_at = now()`;
}

export async function incrementSpend(db: Pick<Db, "execute">, incs: SpendIncrement[]): Promise<void> {
  if (incs.length) await db.execute(upsertSpend(incs));
}

export interface SpendRow extends SpendIncrement {}

const num = (v: unknown) => Number(v ?? 0);
function toRow(r: Record<string, unknown>): SpendRow {
  return {
    campaignId: String(r.campaign_id),
    armKey: String(r.arm_key),
    day: String(r.day),
    hour: Math.round(num(r.hour)),
    requests: num(r.requests),
    served: num(r.served),
    decisionCost: num(r.decision_cost),
    eventCost: num(r.event_cost),
    conversions: num(r.conversions),
    revenue: num(r.revenue),
  };
}

/** The rows of these campaigns from `fromHour` on (the ledger's recent window). */
export async function readSpendRows(
  db: Pick<Db, "execute">,
  campaignIds: string[],
  fromHour: number,
): Promise<SpendRow[]> {
  if (campaignIds.length === 0) return [];
  const res = await rows(
    db,
    sql`select campaign_id, arm_key, day::text as day, extract(epoch from hour_start) / 3600 as hour,
      requests, served, decision_cost, event_cost, conversions, revenue
    from spend_counters where campaign_id = any(${uuidArray(campaignIds)}) and hour_start >= ${new Date(fromHour * HOUR_MS).toISOString()}::timestamptz`,
  );
  return res.map(toRow);
}

/** What a ledger's first read gets, per campaign. */
export interface LedgerRows {
  timezone: string;
  /** Sums per arm of the rows before `beforeHour`: all-time (day '*') and of the budget day. */
  base: SpendRow[];
  /** The rows from `beforeHour` on. */
  recent: SpendRow[];
}

/**
 * The first read of these campaigns' ledgers in one statement, whatever their number: each one's
 * workspace time zone, its budget day at `nowMs` in that zone, the sums of its rows before `beforeHour`
 * (all-time and of that day) and its rows from `beforeHour` on.
 */
export async function readLedgerRows(
  db: Pick<Db, "execute">,
  campaignIds: string[],
  beforeHour: number,
  nowMs: number,
): Promise<Map<string, LedgerRows>> {
  const out = new Map<string, LedgerRows>();
  if (campaignIds.length === 0) return out;
  const before = new Date(beforeHour * HOUR_MS).toISOString();
  const res = await rows(
    db,
    sql`with w as (
        select c.id as campaign_id, ws.timezone, (to_timestamp(${nowMs / 1000}) at time zone ws.timezone)::date as today
        from campaigns c join workspaces ws on ws.id = c.workspace_id where c.id = any(${uuidArray(campaignIds)})
      ), old as (
        select s.campaign_id, s.arm_key, case when s.day = w.today then s.day end as today, s.requests, s.served,
          s.decision_cost, s.event_cost, s.conversions, s.revenue
        from w join spend_counters s on s.campaign_id = w.campaign_id and s.hour_start < ${before}::timestamptz
      )
      select 'tz' as kind, campaign_id, timezone as arm_key, today::text as day, 0 as hour, 0 as requests, 0 as served,
        0 as decision_cost, 0 as event_cost, 0 as conversions, 0 as revenue from w
      union all
      select 'base', campaign_id, arm_key, case when grouping(today) = 1 then '*' else today::text end, -1,
        sum(requests), sum(served), sum(decision_cost), sum(event_cost), sum(conversions), sum(revenue)
      from old group by grouping sets ((campaign_id, arm_key), (campaign_id, arm_key, today))
      union all
      select 'recent', s.campaign_id, s.arm_key, s.day::text, extract(epoch from s.hour_start) / 3600, s.requests, s.served,
        s.decision_cost, s.event_cost, s.conversions, s.revenue
      from w join spend_counters s on s.campaign_id = w.campaign_id and s.hour_start >= ${before}::timestamptz`,
  );
  for (const r of res) {
    const id = String(r.campaign_id);
    let e = out.get(id);
    if (!e) out.set(id, (e = { timezone: "UTC", base: [], recent: [] }));
    if (r.kind === "tz") e.timezone = String(r.arm_key);
    else if (r.kind === "base") {
      if (r.day !== null) e.base.push(toRow(r));
    } else e.recent.push(toRow(r));
  }
  return out;
}

/** Requests per UTC hour of a campaign in [fromHour, toHour) (the traffic curve of the pacing plan). */
export async function readHourlyRequests(
  db: Pick<Db, "execute">,
  campaignId: string,
  fromHour: number,
  toHour: number,
): Promise<{ hour: number; requests: number }[]> {
  const res = await rows(
    db,
    sql`select extract(epoch from hour_start) / 3600 as hour, sum(requests) as requests
    from spend_counters where campaign_id = ${campaignId}::uuid
      and hour_start >= ${new Date(fromHour * HOUR_MS).toISOString()}::timestamptz and hour_start < ${new Date(toHour * HOUR_MS).toISOString()}::timestamptz
    group by hour_start order by hour_start`,
  );
  return res.map((r) => ({ hour: Math.round(num(r.hour)), requests: num(r.requests) }));
}

/** Per arm and UTC hour, a campaign's counters in [fromHour, toHour) (the budget report). */
export async function readSpendByHour(db: Pick<Db, "execute">, campaignId: string, fromHour: number, toHour: number) {
  const res = await rows(
    db,
    sql`select campaign_id, arm_key, min(day)::text as day, extract(epoch from hour_start) / 3600 as hour,
      sum(requests) as requests, sum(served) as served, sum(decision_cost) as decision_cost, sum(event_cost) as event_cost,
      sum(conversions) as conversions, sum(revenue) as revenue
    from spend_counters where campaign_id = ${campaignId}::uuid
      and hour_start >= ${new Date(fromHour * HOUR_MS).toISOString()}::timestamptz and hour_start < ${new Date(toHour * HOUR_MS).toISOString()}::timestamptz
    group by campaign_id, arm_key, hour_start order by hour_start, arm_key`,
  );
  return res.map(toRow);
}

/** A campaign's pacing controller state as stored in pacer_states (src/budget/pacing.ts `PacerState`). */
export interface PacerRow {
  campaignId: string;
  state: PacerState;
}

/**
 * `insert into pacer_states … on conflict update` (one JSON parameter); usable as a CTE of the
 * decision-log statement. A state older (by its last step) than the stored one does not replace it, so a
 * replica whose batch commits late does not roll another's controller back.
 */
export function upsertPacers(states: PacerRow[]): SQL {
  const rows = [...new Map(states.map((s) => [s.campaignId, s])).values()]
    .sort((a, b) => (a.campaignId < b.campaignId ? -1 : a.campaignId > b.campaignId ? 1 : 0))
    .map((s) => ({ campaign_id: s.campaignId, state: s.state }));
  return sql`insert into pacer_states (campaign_id, state)
    select campaign_id, state from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as s(campaign_id uuid, state jsonb)
    order by campaign_id
    on conflict (campaign_id) do update set state = excluded.state, updated_at = now()
    where (pacer_states.state->>'lastMs')::float8 <= (excluded.state->>'lastMs')::float8`;
}

/** The stored controller states of the campaigns (read with the ledger, at load). */
export async function readPacers(db: Pick<Db, "execute">, campaignIds: string[]): Promise<Map<string, PacerState>> {
  if (campaignIds.length === 0) return new Map();
  const rs = await rows<{ campaign_id: string; state: PacerState | string }>(
    db,
    sql`select campaign_id, state from pacer_states where campaign_id = any(${uuidArray(campaignIds)})`,
  );
  return new Map(
    rs.map((r) => [String(r.campaign_id), typeof r.state === "string" ? (JSON.parse(r.state) as PacerState) : r.state]),
  );
}
