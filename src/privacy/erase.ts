/**
 * Erasure: everything stored about one unit of a workspace, or everything of one (archived) campaign,
 * removed in one transaction and recorded in `erasures` with the counts — never with the unit id or
 * its hash. What was learned stays: arm statistics, their hour buckets, delay histograms and the hourly
 * rollups are sums over many decisions and hold nothing about one person.
 *
 * A unit's rows: its decisions (found by `unit_hash`, the keyed hash every writer stores), the events
 * attributed to them, and the links from fraud findings to those events (a finding's own row keeps its
 * counts: it names a source, not the unit).
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import { unitHash, type WorkspacePrivacy } from "./pseudonym.ts";

export interface UnitErasure {
  decisions: number;
  events: number;
  anomalyEvents: number;
}

export async function eraseUnit(
  db: Db,
  ws: WorkspacePrivacy,
  unitId: string,
  keyId: string | null,
): Promise<UnitErasure> {
  const h = unitHash(ws, unitId);
  return db.transaction(async (tx) => {
    const [r] = await rows<{ d: number; e: number; l: number }>(
      tx,
      sql`with d as (
            delete from decisions where workspace_id = ${ws.id}::uuid and unit_hash = ${h} returning id
          ), e as (
            delete from events where workspace_id = ${ws.id}::uuid and decision_id in (select id from d) returning event_id
          ), l as (
            delete from anomaly_events where workspace_id = ${ws.id}::uuid and event_id in (select event_id from e) returning 1
          )
          select (select count(*) from d)::int as d, (select count(*) from e)::int as e, (select count(*) from l)::int as l`,
    );
    const removed: UnitErasure = { decisions: Number(r.d), events: Number(r.e), anomalyEvents: Number(r.l) };
    await audit(tx, ws.id, "unit", null, removed, keyId);
    return removed;
  });
}

export interface CampaignDeletion {
  decisions: number;
  events: number;
  anomalies: number;
  anomalyEvents: number;
  arms: number;
  rollupHours: number;
}

/** Deletes an archived campaign and every row of it (the caller checked it is archived and flushed). */
export async function deleteCampaignRows(
  db: Db,
  workspaceId: string,
  campaignId: string,
  keyId: string | null,
): Promise<CampaignDeletion> {
  return db.transaction(async (tx) => {
    const ws = sql`${workspaceId}::uuid`;
    const c = sql`${campaignId}::uuid`;
    const [r] = await rows<Record<string, number>>(
      tx,
      sql`with e as (
            delete from events where workspace_id = ${ws} and campaign_id = ${c} returning 1
          ), a as (
            delete from anomalies where workspace_id = ${ws} and campaign_id = ${c} returning id
          ), l as (
            delete from anomaly_events where anomaly_id in (select id from a) returning 1
          ), h as (
            delete from arm_hourly where campaign_id = ${c} returning 1
          ), i as (
            delete from invalid_hourly where campaign_id = ${c} returning 1
          ), d as (
            delete from decisions where workspace_id = ${ws} and campaign_id = ${c} returning 1
          )
          select (select count(*) from d)::int as decisions, (select count(*) from e)::int as events,
            (select count(*) from a)::int as anomalies, (select count(*) from l)::int as anomaly_events,
            (select count(*) from h)::int + (select count(*) from i)::int as rollup_hours`,
    );
    // arms, arm_stats, arm_stat_buckets and conversion_delays go with the campaign (foreign keys, cascade).
    const arms = await rows<{ n: number }>(tx, sql`select count(*)::int as n from arms where campaign_id = ${c}`);
    await tx.execute(sql`delete from campaigns where id = ${c} and workspace_id = ${ws}`);
    const removed: CampaignDeletion = {
      decisions: Number(r.decisions),
      events: Number(r.events),
      anomalies: Number(r.anomalies),
      anomalyEvents: Number(r.anomaly_events),
      arms: Number(arms[0].n),
      rollupHours: Number(r.rollup_hours),
    };
    await audit(tx, workspaceId, "campaign", campaignId, { ...removed }, keyId);
    return removed;
  });
}

async function audit(
  tx: Pick<Db, "execute">,
  workspaceId: string,
  kind: "unit" | "campaign",
  campaignId: string | null,
  removed: object,
  keyId: string | null,
): Promise<void> {
  await tx.execute(sql`insert into erasures (workspace_id, kind, campaign_id, removed, key_id)
    values (${workspaceId}::uuid, ${kind}, ${campaignId}::uuid, ${JSON.stringify(removed)}::jsonb, ${keyId}::uuid)`);
}
