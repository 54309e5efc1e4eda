/**
 * Queries of the exact rebuild of a campaign's statistics (src/engine/recompute.ts).
 *
 * `rebuildSnapshot` reads in ONE statement — so from one snapshot, even under READ COMMITTED — the
 * campaign's objective and arm costs, its arm_stats totals, its decisions and the attributed valid
 * events that teach. What the rebuild then writes is a correction (rebuilt − stored in that snapshot)
 * added like any other increment, so decision commits and ingests that land meanwhile are kept.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { StoredBucketStats } from "../engine/timed.ts";
import { uuidArray } from "./arm-stats.ts";
import { rows, type Db } from "./db.ts";
import { decisions } from "./schema.ts";
import type { DecaySpec, Objective, TrialAt } from "./schema.ts";

export interface RebuildSnapshot {
  objective: Objective;
  trialAt: TrialAt;
  attributionWindowHours: number;
  decay: DecaySpec | null;
  /** The database's clock (epoch ms): which hour buckets the rebuild keeps (src/engine/timed.ts retentionHours). */
  nowMs: number;
  arms: { key: string; cost: number }[];
  stats: { armKey: string; n: number; sum: number; sumSq: number; xx: number[] | null; xr: number[] | null }[];
  decisions: {
    id: string;
    armKey: string;
    /** ISO-8601. */
    createdAt: string;
    context: Record<string, unknown> | null;
    reward: number;
    converted: boolean;
  }[];
  /** In arrival order (received_at, event_id); times ISO-8601. */
  events: { decisionId: string; type: string; value: number; cost: number; occurredAt: string; receivedAt: string }[];
  /** The campaign's arm_stat_buckets rows (hour = hours since the epoch). */
  buckets: StoredBucketStats[];
  /** The campaign's conversion_delays rows. */
  delays: { hour: number; counts: number[] }[];
}

export async function rebuildSnapshot(
  tx: Pick<Db, "execute">,
  campaignId: string,
): Promise<RebuildSnapshot | undefined> {
  const [r] = await rows<{ snapshot: RebuildSnapshot | string | null }>(
    tx,
    sql`select (
      select json_build_object(
        'objective', c.objective, 'trialAt', c.trial_at, 'attributionWindowHours', c.attribution_window_hours,
        'decay', c.decay, 'nowMs', (extract(epoch from now()) * 1000)::float8,
        'arms', (select coalesce(json_agg(json_build_object('key', a.key, 'cost', a.cost)), '[]'::json)
                 from arms a where a.campaign_id = c.id),
        'stats', (select coalesce(json_agg(json_build_object('armKey', s.arm_key, 'n', s.n, 'sum', s.sum,
                   'sumSq', s.sum_sq, 'xx', s.xx, 'xr', s.xr)), '[]'::json)
                  from arm_stats s where s.campaign_id = c.id),
        'decisions', (select coalesce(json_agg(json_build_object('id', d.id, 'armKey', d.arm_key, 'createdAt', d.created_at,
                       'context', d.context, 'reward', d.reward, 'converted', d.converted)), '[]'::json)
                      from decisions d where d.campaign_id = c.id and d.served),
        'events', (select coalesce(json_agg(json_build_object('decisionId', e.decision_id, 'type', e.type,
                    'value', e.value, 'cost', e.cost, 'occurredAt', e.occurred_at, 'receivedAt', e.received_at)
                    order by e.received_at, e.event_id), '[]'::json)
                   from events e where e.campaign_id = c.id and e.attributed and e.invalid_reason is null),
        'buckets', (select coalesce(json_agg(json_build_object('armKey', b.arm_key,
                     'hour', round(extract(epoch from b.bucket_start) / 3600), 'n', b.n, 'sum', b.sum, 'sumSq', b.sum_sq,
                     'xx', b.xx, 'xr', b.xr, 'converted', b.converted, 'rewardSum', b.reward_sum,
                     'rewardSumSq', b.reward_sum_sq, 'rewardXr', b.reward_xr)), '[]'::json)
                    from arm_stat_buckets b where b.campaign_id = c.id),
        'delays', (select coalesce(json_agg(json_build_object('hour', round(extract(epoch from g.cohort_start) / 3600),
                    'counts', g.counts)), '[]'::json)
                   from conversion_delays g where g.campaign_id = c.id)
      ) from campaigns c where c.id = ${campaignId}::uuid
    ) as snapshot`,
  );
  const s = r?.snapshot;
  if (!s) return undefined;
  return typeof s === "string" ? (JSON.parse(s) as RebuildSnapshot) : s;
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
