/**
 * Event ingest queries. Rows travel as one JSON parameter each (constant SQL text, prepared once,
 * no per-row parameter building), which keeps a batch of 1000 events cheap on both drivers.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { ArmIncrement } from "../engine/stats.ts";
import { upsertIncrements, uuidArray } from "./arm-stats.ts";
import { rows, type Db } from "./db.ts";
import { events } from "./schema.ts";

/** An event as stored. */
export type EventRow = typeof events.$inferSelect;

/**
 * Inserts the events, skipping ids the workspace already has; returns the ids actually inserted.
 * events is partitioned by occurred_at, so its unique key holds occurred_at: a resend dated otherwise
 * (no occurredAt: the time received) lies in another partition, and NOT EXISTS finds it there (each
 * partition's key index, by (workspace_id, event_id)). Two ingests of one event wait for each other on
 * the decision's row lock (learn.ts lock order), so the second sees the first's row; ON CONFLICT covers
 * the rest.
 */
export async function insertEvents(tx: Pick<Db, "execute">, evs: EventRow[]): Promise<Set<string>> {
  if (evs.length === 0) return new Set();
  const j = JSON.stringify(
    evs.map((e) => ({
      workspace_id: e.workspaceId,
      event_id: e.eventId,
      decision_id: e.decisionId,
      campaign_id: e.campaignId,
      arm_key: e.armKey,
      type: e.type,
      value: e.value,
      cost: e.cost,
      occurred_at: e.occurredAt.toISOString(),
      received_at: e.receivedAt.toISOString(),
      source_ip: e.sourceIp,
      source_user_agent: e.sourceUserAgent,
      source_publisher: e.sourcePublisher,
      source_placement: e.sourcePlacement,
      attributed: e.attributed,
      invalid_reason: e.invalidReason,
    })),
  );
  const got = await rows<{ event_id: string }>(
    tx,
    sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost, occurred_at, received_at,
          source_ip, source_user_agent, source_publisher, source_placement, attributed, invalid_reason)
        select workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost, occurred_at, received_at,
          source_ip, source_user_agent, source_publisher, source_placement, attributed, invalid_reason
        from jsonb_to_recordset(${j}::jsonb) as x(workspace_id uuid, event_id text, decision_id uuid, campaign_id uuid, arm_key text, type text,
          value float8, cost float8, occurred_at timestamptz, received_at timestamptz, source_ip text, source_user_agent text,
          source_publisher text, source_placement text, attributed boolean, invalid_reason text)
        where not exists (select 1 from events e where e.workspace_id = x.workspace_id and e.event_id = x.event_id)
        on conflict (workspace_id, event_id, occurred_at) do nothing
        returning event_id`,
  );
  return new Set(got.map((g) => g.event_id));
}

/** The stored payload of these event ids (to tell a resend from a reused id). */
export async function storedEvents(tx: Pick<Db, "select">, workspaceId: string, ids: string[]) {
  const r = await tx
    .select({
      eventId: events.eventId,
      type: events.type,
      decisionId: events.decisionId,
      value: events.value,
      cost: events.cost,
      occurredAt: events.occurredAt,
    })
    .from(events)
    .where(and(eq(events.workspaceId, workspaceId), inArray(events.eventId, ids)));
  return new Map(r.map((e) => [e.eventId, e]));
}

/** A decision's new running reward; its created_at locates its partition. */
export interface RewardUpdate {
  id: string;
  createdAt: Date;
  reward: number;
  converted: boolean;
}

/**
 * New running rewards of decisions, and the arm increments they imply, in one statement. The updates'
 * created_at range bounds it, so only the day partitions between the oldest and newest are touched.
 */
export async function applyRewards(
  tx: Pick<Db, "execute">,
  updates: RewardUpdate[],
  incs: ArmIncrement[],
): Promise<void> {
  if (updates.length === 0 && incs.length === 0) return;
  const u = JSON.stringify(updates);
  const times = updates.map((x) => x.createdAt.getTime());
  // created_at is stored to the µs, a Date holds ms: the range is [earliest ms, latest ms + 1 ms), not equality.
  // `id = any(…)` beside the join is an index condition on every partition's primary key: without it the
  // planner joined by a hash over the day partition's rows — or, under a generic plan, a nested loop over
  // them — whenever the partition's statistics were stale (a new day, a fresh database): 13–440 ms for
  // 100 ids instead of ~2 ms.
  const from = new Date(times.length ? Math.min(...times) : 0).toISOString();
  const to = new Date(times.length ? Math.max(...times) + 1 : 0).toISOString();
  await tx.execute(sql`with upd as (
      update decisions as d set reward = v.reward, converted = v.converted
      from jsonb_to_recordset(${u}::jsonb) as v(id uuid, reward float8, converted boolean)
      where d.id = v.id and d.id = any(${uuidArray(updates.map((x) => x.id))})
        and d.created_at >= ${from}::timestamptz and d.created_at < ${to}::timestamptz
    )
    ${upsertIncrements(incs)}`);
}

/**
 * When each of these decisions became a trial in a campaign counting trials at impression: the occurredAt
 * of its first teaching event (attributed and valid) — the earliest received, the earliest occurred among
 * those received at once. Decisions without one are absent. (The exact rebuild applies the same rule.)
 */
export async function firstTeachingEvents(
  tx: Pick<Db, "execute">,
  workspaceId: string,
  decisionIds: string[],
): Promise<Map<string, Date>> {
  if (decisionIds.length === 0) return new Map();
  const got = await rows<{ decision_id: string; occurred_at: Date | string }>(
    tx,
    sql`select distinct on (decision_id) decision_id, occurred_at from events
        where workspace_id = ${workspaceId}::uuid and decision_id = any(${`{${decisionIds.join(",")}}`}::uuid[])
          and attributed and invalid_reason is null
        order by decision_id, received_at, occurred_at`,
  );
  return new Map(got.map((g) => [g.decision_id, new Date(g.occurred_at)]));
}
