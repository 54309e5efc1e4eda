/**
 * Retention: each workspace keeps its decisions and events for its own number of days (default 90,
 * `workspaces.decision_retention_days` / `event_retention_days`). The `retention` job (src/jobs, one
 * leader) makes the day partitions ahead (partitions.ts), drops the partitions older than the longest
 * period of any workspace (a DROP: with the default everywhere, that is all of retention), then deletes
 * what is older than a shorter period, in batches so no statement holds locks for long. Learned aggregates and
 * rollups (arm_stats, arm_stat_buckets, arm_hourly, invalid_hourly, anomalies) are kept: reports over
 * long periods come from the rollups. Links from findings to deleted events go with them.
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import { dropPartitionsBefore, ensurePartitions } from "./partitions.ts";

export const MIN_RETENTION_DAYS = 1;
export const MAX_RETENTION_DAYS = 3650;
const DAY = 86_400_000;
const BATCH = 10_000;

/** Days of partitions made ahead of today (and one behind, for late rows near midnight). */
export const PARTITION_DAYS_AHEAD = 7;
export const DEFAULT_RETENTION_DAYS = 90;

export interface RetentionRun {
  /** Rows deleted (beyond the dropped partitions) for workspaces with a shorter period than the longest. */
  decisions: number;
  events: number;
  anomalyEvents: number;
  partitionsMade: string[];
  partitionsDropped: string[];
}

export async function enforceRetention(db: Db, now = new Date()): Promise<RetentionRun> {
  const out: RetentionRun = { decisions: 0, events: 0, anomalyEvents: 0, partitionsMade: [], partitionsDropped: [] };
  const t = now.getTime();
  const wss = await rows<{ id: string; d: number; e: number }>(
    db,
    sql`select id, decision_retention_days as d, event_retention_days as e from workspaces order by id`,
  );
  for (const table of ["decisions", "events"] as const) {
    out.partitionsMade.push(...(await ensurePartitions(db, table, t - DAY, t + PARTITION_DAYS_AHEAD * DAY)));
    const longest = wss.length
      ? Math.max(...wss.map((w) => Number(table === "decisions" ? w.d : w.e)))
      : DEFAULT_RETENTION_DAYS;
    out.partitionsDropped.push(...(await dropPartitionsBefore(db, table, t - longest * DAY)));
  }
  for (const w of wss) {
    const ws = sql`${w.id}::uuid`;
    const dCut = new Date(now.getTime() - Number(w.d) * DAY).toISOString();
    const eCut = new Date(now.getTime() - Number(w.e) * DAY).toISOString();
    for (;;) {
      const [r] = await rows<{ e: number; l: number }>(
        db,
        sql`with e as (
              delete from events where (workspace_id, event_id) in (
                select workspace_id, event_id from events
                where workspace_id = ${ws} and occurred_at < ${eCut}::timestamptz limit ${BATCH})
              returning event_id
            ), l as (
              delete from anomaly_events where workspace_id = ${ws} and event_id in (select event_id from e) returning 1
            )
            select (select count(*) from e)::int as e, (select count(*) from l)::int as l`,
      );
      out.events += Number(r.e);
      out.anomalyEvents += Number(r.l);
      if (Number(r.e) < BATCH) break;
    }
    for (;;) {
      const [r] = await rows<{ d: number }>(
        db,
        sql`with d as (
              delete from decisions where id in (
                select id from decisions where workspace_id = ${ws} and created_at < ${dCut}::timestamptz limit ${BATCH})
              returning 1
            ) select count(*)::int as d from d`,
      );
      out.decisions += Number(r.d);
      if (Number(r.d) < BATCH) break;
    }
  }
  return out;
}
