/**
 * Decision log queries: the group commit's one-statement insert (decision rows and their arm_stats
 * increments), and the decisions events refer to, locked for the running-reward update.
 */
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import type { ArmIncrement } from "../engine/stats.ts";
import { upsertIncrements, uuidArray } from "./arm-stats.ts";
import { upsertBucketIncrements, type BucketIncrement } from "./buckets.ts";
import { rows, type Db } from "./db.ts";
import { upsertPacers, upsertSpend, type PacerRow, type SpendIncrement } from "./spend.ts";
import { decisions } from "./schema.ts";

/** A decision as stored (the decision log's row). */
export type DecisionRow = typeof decisions.$inferSelect;

/**
 * Logs a batch of decisions and adds their trials to arm_stats and to their hour buckets
 * (arm_stat_buckets), their spend to spend_counters and their campaigns' changed pacing controller states
 * to pacer_states, in one statement (atomic, one round trip). Rows travel as JSON (numbers print in shortest round-trip form, so floats are exact).
 */
export async function insertDecisionsWithStats(
  db: Pick<Db, "execute">,
  decisions: DecisionRow[],
  incs: ArmIncrement[],
  buckets: BucketIncrement[] = [],
  spend: SpendIncrement[] = [],
  pacers: PacerRow[] = [],
): Promise<void> {
  if (decisions.length === 0) return;
  const d = JSON.stringify(
    decisions.map((r) => ({
      id: r.id,
      workspace_id: r.workspaceId,
      campaign_id: r.campaignId,
      arm_key: r.armKey,
      propensity: r.propensity,
      served: r.served,
      reason: r.reason,
      context: r.context,
      unit_id: r.unitId,
      unit_hash: r.unitHash,
      timezone: r.timezone,
      position: r.position,
      strategy_version: r.strategyVersion,
      created_at: r.createdAt.toISOString(),
      reward: r.reward,
      converted: r.converted,
    })),
  );
  await db.execute(
    sql`with ins as (
      insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, served, reason, context, unit_id, unit_hash, timezone, position, strategy_version, created_at, reward, converted)
      select id, workspace_id, campaign_id, arm_key, propensity, coalesce(served, true), reason, context, unit_id, unit_hash, timezone, position, strategy_version, created_at, reward, converted
      from jsonb_to_recordset(${d}::jsonb) as x(id uuid, workspace_id uuid, campaign_id uuid, arm_key text, propensity float8, served boolean, reason text, context jsonb,
        unit_id text, unit_hash text, timezone text, position int, strategy_version int, created_at timestamptz, reward float8, converted boolean)
    )${buckets.length ? sql`, b as (${upsertBucketIncrements(buckets)})` : sql``}${spend.length ? sql`, s as (${upsertSpend(spend)})` : sql``}${pacers.length ? sql`, p as (${upsertPacers(pacers)})` : sql``}
    ${upsertIncrements(incs)}`,
  );
}

/** When the decisions an event batch can refer to were made (learn.ts `madeWithin`). */
export interface MadeWithin {
  from: Date;
  to: Date;
}

/**
 * A decision locked for the running-reward update: what learning reads of it (attribution, the fraud gate,
 * the reward and its trial's features), and where its row is (applyRewards updates it there).
 */
export type LockedDecision = Pick<DecisionRow, (typeof LOCKED)[number]> & { rowId: string };

// Only these columns: an event batch locks a row per event, and the others (unit, propensity, time zone,
// …) were read, sent and mapped for nothing.
const LOCKED = ["id", "workspaceId", "campaignId", "armKey", "createdAt", "reward", "converted", "context"] as const;
const COLUMNS = Object.entries(getTableColumns(decisions)).filter(([k]) => (LOCKED as readonly string[]).includes(k));
const SELECT_LIST = sql.raw(COLUMNS.map(([, c]) => `d."${c.name}"`).join(", "));

/**
 * The select-for-update of the workspace's decisions among `ids` (made within `within`, if given), in id
 * order, with each row's ctid. One lookup by primary key per id (a lateral join on the sorted ids, locked as
 * they are found, so in id order): with `id = any(…)` on the table, PostgreSQL with no statistics yet on a
 * day partition (default selectivities: tens of rows for the workspace or the time range) chose the
 * (workspace, unit) or (campaign, created_at) index and read every decision of the day to keep 100 —
 * 20,000 rows, ~12 ms a batch under bench:ingest, growing through the day. The time bound stays a plain
 * range on created_at so the day partitions outside it are pruned.
 */
export function decisionsToLock(workspaceId: string, ids: string[], within?: MadeWithin): SQL {
  const sorted = [...new Set(ids)].sort();
  return sql`select ${SELECT_LIST}, d.ctid::text as row_id
    from unnest(${uuidArray(sorted)}) with ordinality as i(id, k)
    cross join lateral (
      select *, ctid from decisions
      where decisions.id = i.id and decisions.workspace_id = ${workspaceId}::uuid${
        within
          ? sql` and decisions.created_at between ${within.from.toISOString()}::timestamptz and ${within.to.toISOString()}::timestamptz`
          : sql``
      }
      for update
    ) d
    order by i.k`;
}

async function locked(tx: Pick<Db, "execute">, q: SQL): Promise<LockedDecision[]> {
  const got = await rows<Record<string, unknown>>(tx, q);
  return got.map((r) => {
    const d: Record<string, unknown> = { rowId: String(r.row_id) };
    for (const [key, c] of COLUMNS) {
      const v = r[c.name];
      d[key] = v === null || v === undefined ? null : c.mapFromDriverValue(v);
    }
    return d as LockedDecision;
  });
}

/**
 * The workspace's decisions among `ids`, locked (FOR UPDATE, in id order) for the running-reward update.
 * With `madeWithin` the lookup is bounded by created_at, so PostgreSQL prunes the day partitions outside
 * it instead of probing every partition's index (an event does not know its decision's day); ids not
 * found within it are looked up again unbounded, so the answer is the same as without the bound.
 */
export async function lockDecisions(
  tx: Pick<Db, "execute">,
  workspaceId: string,
  ids: string[],
  madeWithin?: MadeWithin,
): Promise<LockedDecision[]> {
  if (ids.length === 0) return [];
  if (!madeWithin) return locked(tx, decisionsToLock(workspaceId, ids));
  const found = await locked(tx, decisionsToLock(workspaceId, ids, madeWithin));
  if (found.length === new Set(ids).size) return found;
  const have = new Set(found.map((d) => d.id));
  return [
    ...found,
    ...(await locked(
      tx,
      decisionsToLock(
        workspaceId,
        ids.filter((id) => !have.has(id)),
      ),
    )),
  ];
}

/** What identifies a logged decision for an import's idempotency check (decision-import.ts). */
export type StoredDecision = Pick<
  DecisionRow,
  "id" | "workspaceId" | "campaignId" | "armKey" | "propensity" | "createdAt"
>;

/** The decisions among `ids`, whatever their workspace (an id is a primary key across workspaces). */
export function storedDecisions(tx: Pick<Db, "select">, ids: string[]): Promise<StoredDecision[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return tx
    .select({
      id: decisions.id,
      workspaceId: decisions.workspaceId,
      campaignId: decisions.campaignId,
      armKey: decisions.armKey,
      propensity: decisions.propensity,
      createdAt: decisions.createdAt,
    })
    .from(decisions)
    .where(sql`${decisions.id} = any(${uuidArray(ids)})`);
}

/**
 * Serialises the decision imports of one campaign (transaction-scoped advisory lock): two imports of the
 * same ids at once would both find them new. Live decisions never take it.
 */
export async function lockCampaignImport(tx: Pick<Db, "execute">, campaignId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`decision-import:${campaignId}`}, 0))`);
}
