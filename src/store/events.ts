/**
 * Event ingest queries. Rows travel as one JSON parameter each (constant SQL text, prepared once,
 * no per-row parameter building), which keeps a batch of 1000 events cheap on both drivers.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { ArmIncrement } from "../engine/stats.ts";
import { upsertIncrements } from "./arm-stats.ts";
import { rows, type Db } from "./db.ts";
import { events } from "./schema.ts";

/** An event as stored. */
export type EventRow = typeof events.$inferSelect;

/**
 * Inserts the events, skipping ids the workspace already has; returns the ids actually inserted.
 * events is partitioned by occurred_at, so its unique key holds occurred_at: a resend dated otherwise
 * (no occurredAt: the time received) lies in another partition, and the lookup of the batch's ids finds
 * it there (each partition's key index, by (workspace_id, event_id)). That lookup is an array computed once
 * (`<> all(array(…))`), not a NOT EXISTS: the planner turned NOT EXISTS into a hash anti join over a
 * sequential scan of every events partition (fresh partitions' statistics say they are small), so each
 * batch read all of the day's events — ~18 ms a batch at 24,000 events under bench:ingest, and growing.
 * Two ingests of one event wait for each other on
 * the decision's row lock (learn.ts lock order), so the second sees the first's row; ON CONFLICT covers
 * the rest.
 */
export async function insertEvents(tx: Pick<Db, "execute">, evs: EventRow[]): Promise<Set<string>> {
  if (evs.length === 0) return new Set();
  const workspaceId = evs[0]!.workspaceId;
  if (evs.some((e) => e.workspaceId !== workspaceId)) throw new Error("insertEvents: one workspace per call");
  const ids = JSON.stringify(evs.map((e) => e.eventId));
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
        where x.event_id <> all(array(
          select e.event_id from events e where e.workspace_id = ${workspaceId}::uuid and e.event_id = any(array(select jsonb_array_elements_text(${ids}::jsonb)))
        ))
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

/**
 * A decision's new running reward. `rowId` is the ctid its lock (lockDecisions) returned: the row cannot
 * move while this transaction holds the lock; its created_at locates its partition.
 */
export interface RewardUpdate {
  id: string;
  rowId: string;
  createdAt: Date;
  reward: number;
  converted: boolean;
}

/**
 * New running rewards of decisions, and the arm increments they imply, in one statement. The rows are
 * reached by their ctid (a TID scan of the locked rows; the id must match too), within the updates'
 * created_at range, so only the day partitions between the oldest and newest are touched: a join on id
 * let PostgreSQL, with no statistics yet on a day partition, hash-join a scan of the whole day's decisions
 * (~19,000 rows, ~5 ms a batch under bench:ingest).
 */
export async function applyRewards(
  tx: Pick<Db, "execute">,
  updates: RewardUpdate[],
  incs: ArmIncrement[],
): Promise<void> {
  if (updates.length === 0 && incs.length === 0) return;
  const u = JSON.stringify(
    updates.map((x) => ({ id: x.id, row_id: x.rowId, reward: x.reward, converted: x.converted })),
  );
  const ctids = `{${updates.map((x) => `"${x.rowId}"`).join(",")}}`;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const x of updates) {
    const t = x.createdAt.getTime();
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  // created_at is stored to the µs, a Date holds ms: the range is [earliest ms, latest ms + 1 ms), not equality.
  const from = new Date(updates.length ? lo : 0).toISOString();
  const to = new Date(updates.length ? hi + 1 : 0).toISOString();
  await tx.execute(sql`with upd as (
      update decisions as d set reward = v.reward, converted = v.converted
      from jsonb_to_recordset(${u}::jsonb) as v(id uuid, row_id tid, reward float8, converted boolean)
      where d.ctid = any(${ctids}::tid[]) and d.ctid = v.row_id and d.id = v.id
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
