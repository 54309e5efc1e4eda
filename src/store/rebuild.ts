/**
 * Queries of the exact rebuild of a campaign's statistics (src/engine/recompute.ts).
 *
 * `streamRebuildSnapshot` reads the campaign's objective and arm costs, its arm_stats totals, hour buckets,
 * delay cohorts, its served decisions and the attributed valid events that teach, all from ONE snapshot
 * (even under READ COMMITTED): one cursor over one query, whose snapshot is the one of its DECLARE, fetched
 * in chunks. What the rebuild then writes is a correction (rebuilt − stored in that snapshot) added like any
 * other increment, so decision commits and ingests that land meanwhile are kept.
 *
 * Why a cursor and not one value: a campaign with millions of decisions does not fit in one JSON value
 * (PostgreSQL caps a value at 1 GB, Node a string at ~512 MB), and the whole text plus its parsed copy
 * would sit in memory at once. Fetched in chunks, only a chunk of rows is in flight; the caller keeps what
 * it needs of each row (src/engine/recompute.ts keeps compact columns and applies the events as they come).
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { StoredBucketStats } from "../engine/timed.ts";
import { uuidArray } from "./arm-stats.ts";
import { rows, type Db } from "./db.ts";
import { decisions } from "./schema.ts";
import type { DecaySpec, Objective, TrialAt } from "./schema.ts";

export interface RebuildHeader {
  objective: Objective;
  trialAt: TrialAt;
  attributionWindowHours: number;
  decay: DecaySpec | null;
  /** The database's clock (epoch ms): which hour buckets the rebuild keeps (src/engine/timed.ts retentionHours). */
  nowMs: number;
}

export interface RebuildDecision {
  id: string;
  armKey: string;
  /** Epoch ms, truncated like Date.parse of the timestamp. */
  createdMs: number;
  /** Only when read `withContext` (else null). */
  context: Record<string, unknown> | null;
  reward: number;
  converted: boolean;
}

export interface RebuildEvent {
  decisionId: string;
  type: string;
  value: number;
  cost: number;
  /** Epoch ms, truncated like Date.parse of the timestamp. */
  occurredMs: number;
  /** Epoch µs, exact: events received in the same instant are told apart from others by it. */
  receivedUs: number;
}

/**
 * Receives the snapshot's rows in this order: the header, then arms, stats, buckets, delays (each complete
 * before the next kind), then the decisions, then the events in arrival order (received_at, event_id).
 * So an event's decision, if in the snapshot, has been given before it.
 */
export interface RebuildSink {
  header(h: RebuildHeader): void;
  arm(a: { key: string; cost: number }): void;
  stat(s: { armKey: string; n: number; sum: number; sumSq: number; xx: number[] | null; xr: number[] | null }): void;
  /** An arm_stat_buckets row (hour = hours since the epoch). */
  bucket(b: StoredBucketStats): void;
  /** A conversion_delays row. */
  delay(d: { hour: number; counts: number[] }): void;
  decision(d: RebuildDecision): void;
  event(e: RebuildEvent): void;
}

export interface RebuildReadOptions {
  /** Rows per FETCH (default 5000): what is in flight at once. */
  chunkRows?: number;
  /** Read each decision's logged context (contextual campaigns only: it is the largest column). */
  withContext?: boolean;
  /** Statement timeout of the first FETCH, the one that sorts (default 300,000 ms; see streamRebuildSnapshot). */
  sortTimeoutMs?: number;
}

/** One row of the cursor: a kind and generic columns, what each holds per kind is in `deliver`. */
interface Row {
  k: number;
  s1: string | null;
  s2: string | null;
  f1: number | null;
  f2: number | null;
  f3: number | null;
  f4: number | null;
  f5: number | null;
  f6: number | null;
  f7: number | null;
  b1: boolean | null;
  a1: number[] | null;
  a2: number[] | null;
  a3: number[] | null;
  j: unknown;
}

const HEADER = 0;
const ARM = 1;
const STAT = 2;
const BUCKET = 3;
const DELAY = 4;
const DECISION = 5;
const EVENT = 6;

/**
 * Streams the campaign's snapshot into `sink`; false if there is no such campaign. Runs inside the caller's
 * transaction (`tx`), which a cursor needs; the cursor is closed before it returns.
 */
export async function streamRebuildSnapshot(
  tx: Pick<Db, "execute">,
  campaignId: string,
  sink: RebuildSink,
  opts: RebuildReadOptions = {},
): Promise<boolean> {
  const chunk = Math.max(1, Math.floor(opts.chunkRows ?? 5000));
  await tx.execute(declareCursor(campaignId, opts.withContext ?? false));
  // The first FETCH sorts the whole union (declareCursor): a cost in proportion to the campaign, which the
  // service's statement timeout (10 s, a bound meant for requests) would cancel past a few million rows, so
  // the consistency job would fail on such a campaign every time. It gets a bound of its own; the later
  // FETCHes, a chunk each, run under the session's.
  const [prev] = await rows<{ t: string }>(tx, sql`select current_setting('statement_timeout') as t`);
  await tx.execute(sql`select set_config('statement_timeout', ${String(opts.sortTimeoutMs ?? 300_000)}, true)`);
  let found = false;
  for (let n = 0; ; n++) {
    const part = await rows<Row>(tx, sql.raw(`fetch ${chunk} from rebuild_c`));
    if (n === 0) await tx.execute(sql`select set_config('statement_timeout', ${prev!.t}, true)`);
    for (const r of part) {
      if (r.k === HEADER) found = true;
      deliver(r, sink);
    }
    if (part.length < chunk) break;
  }
  await tx.execute(sql`close rebuild_c`);
  return found;
}

const f = (v: number | null) => Number(v);

function deliver(r: Row, sink: RebuildSink): void {
  switch (r.k) {
    case HEADER:
      sink.header({
        objective: r.s1 as Objective,
        trialAt: r.s2 as TrialAt,
        attributionWindowHours: f(r.f1),
        nowMs: f(r.f2),
        decay: (typeof r.j === "string" ? JSON.parse(r.j) : r.j) as DecaySpec | null,
      });
      break;
    case ARM:
      sink.arm({ key: r.s1!, cost: f(r.f1) });
      break;
    case STAT:
      sink.stat({ armKey: r.s1!, n: f(r.f1), sum: f(r.f2), sumSq: f(r.f3), xx: r.a1, xr: r.a2 });
      break;
    case BUCKET:
      sink.bucket({
        armKey: r.s1!,
        hour: f(r.f1),
        n: f(r.f2),
        sum: f(r.f3),
        sumSq: f(r.f4),
        converted: f(r.f5),
        rewardSum: f(r.f6),
        rewardSumSq: f(r.f7),
        xx: r.a1,
        xr: r.a2,
        rewardXr: r.a3,
      });
      break;
    case DELAY:
      sink.delay({ hour: f(r.f1), counts: r.a1 ?? [] });
      break;
    case DECISION:
      sink.decision({
        id: r.s1!,
        armKey: r.s2!,
        createdMs: f(r.f1),
        reward: f(r.f2),
        converted: r.b1 === true,
        context: (typeof r.j === "string" ? JSON.parse(r.j) : r.j) as Record<string, unknown> | null,
      });
      break;
    case EVENT:
      sink.event({
        decisionId: r.s1!,
        type: r.s2!,
        value: f(r.f1),
        cost: f(r.f2),
        occurredMs: f(r.f3),
        receivedUs: f(r.f4),
      });
      break;
  }
}

// Times as epoch numbers, not timestamps: ms truncated (what Date.parse of the ISO text gave), µs exact
// (PostgreSQL's precision; < 2^53, so exact in a float8) for comparing arrival instants.
const ms = (col: string) => `floor(extract(epoch from ${col}) * 1000)::float8`;
const us = (col: string) => `(extract(epoch from ${col}) * 1000000)::float8`;
const hour = (col: string) => `round(extract(epoch from ${col}) / 3600)::float8`;

/**
 * One query, so one snapshot: a UNION ALL of the kinds with common columns, ordered by kind and, for
 * events, arrival. The order is what the sink relies on. PostgreSQL 15 meets it with one Sort of the
 * whole union, done by the first FETCH (it does not see that each branch's kind is a constant): the
 * decisions are sorted along with the events, which the old single value sorted alone.
 */
function declareCursor(campaignId: string, withContext: boolean) {
  const nul = (n: number, type: string) => Array.from({ length: n }, () => `null::${type}`).join(", ");
  const noSort = "null::timestamptz, null::text";
  // columns: k, s1, s2, f1..f7, b1, a1..a3, j, then the sort columns o1 (arrival) and o2 (event id)
  const branch = (k: number, cols: string, table: string, where = "") =>
    sql`select ${sql.raw(`${k}::int, ${cols} from ${table} t`)} where t.campaign_id = ${campaignId}::uuid${sql.raw(where)}`;
  const branches = [
    sql`select ${sql.raw(`${HEADER}::int, t.objective, t.trial_at, t.attribution_window_hours,
      (extract(epoch from now()) * 1000)::float8, ${nul(5, "float8")}, null::boolean, ${nul(3, "float8[]")}, t.decay,
      ${noSort}`)} from campaigns t where t.id = ${campaignId}::uuid`,
    branch(
      ARM,
      `t.key, null::text, t.cost, ${nul(6, "float8")}, null::boolean, ${nul(3, "float8[]")}, null::jsonb, ${noSort}`,
      "arms",
    ),
    branch(
      STAT,
      `t.arm_key, null::text, t.n, t.sum, t.sum_sq, ${nul(4, "float8")}, null::boolean, t.xx, t.xr, null::float8[],
       null::jsonb, ${noSort}`,
      "arm_stats",
    ),
    branch(
      BUCKET,
      `t.arm_key, null::text, ${hour("t.bucket_start")}, t.n, t.sum, t.sum_sq, t.converted, t.reward_sum,
       t.reward_sum_sq, null::boolean, t.xx, t.xr, t.reward_xr, null::jsonb, ${noSort}`,
      "arm_stat_buckets",
    ),
    branch(
      DELAY,
      `null::text, null::text, ${hour("t.cohort_start")}, ${nul(6, "float8")}, null::boolean, t.counts,
       ${nul(2, "float8[]")}, null::jsonb, ${noSort}`,
      "conversion_delays",
    ),
    branch(
      DECISION,
      `t.id::text, t.arm_key, ${ms("t.created_at")}, t.reward, ${nul(5, "float8")}, t.converted, ${nul(3, "float8[]")},
       ${withContext ? "t.context" : "null::jsonb"}, ${noSort}`,
      "decisions",
      " and t.served",
    ),
    branch(
      EVENT,
      `t.decision_id::text, t.type, t.value, t.cost, ${ms("t.occurred_at")}, ${us("t.received_at")}, ${nul(3, "float8")},
       null::boolean, ${nul(3, "float8[]")}, null::jsonb, t.received_at, t.event_id`,
      "events",
      " and t.attributed and t.invalid_reason is null",
    ),
  ];
  const cols = "k, s1, s2, f1, f2, f3, f4, f5, f6, f7, b1, a1, a2, a3, j";
  return sql`declare rebuild_c no scroll cursor for
    select ${sql.raw(cols)} from (${sql.join(branches, sql.raw("\n    union all\n    "))}) as u(${sql.raw(`${cols}, o1, o2`)})
    order by k, o1, o2`;
}

/**
 * Locks these decisions (FOR UPDATE, in id order — the lock order of every transaction, see
 * src/engine/learn.ts) and returns their current running rewards.
 */
export function lockDecisionRewards(tx: Pick<Db, "select">, campaignId: string, ids: string[]) {
  return tx
    .select({ id: decisions.id, reward: decisions.reward, converted: decisions.converted })
    .from(decisions)
    .where(and(eq(decisions.campaignId, campaignId), sql`${decisions.id} = any(${uuidArray(ids)})`))
    .orderBy(asc(decisions.id))
    .for("update");
}

/** Rewrites decisions' running rewards (in chunks of 1000 rows per statement). */
export async function setDecisionRewards(
  tx: Pick<Db, "execute">,
  changed: { id: string; reward: number; converted: boolean }[],
): Promise<void> {
  for (let i = 0; i < changed.length; i += 1000) {
    const part = changed.slice(i, i + 1000);
    // `id = any(…)` as well as the join: an index condition the planner takes whatever the statistics (see applyRewards).
    await tx.execute(sql`update decisions as d set reward = v.reward, converted = v.converted
      from jsonb_to_recordset(${JSON.stringify(part)}::jsonb) as v(id uuid, reward float8, converted boolean)
      where d.id = v.id and d.id = any(${uuidArray(part.map((c) => c.id))})`);
  }
}
