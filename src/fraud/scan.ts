/**
 * The fraud scan: loads a campaign's valid events over the detectors' sliding windows, runs detect.ts,
 * records each finding and marks the events it covers invalid, then has the campaign's arm statistics
 * rebuilt without them (fraud-aware learning: what flagged events taught is taken back).
 *
 * - Idempotent: windows end on a whole minute, and a finding overlapping an earlier open or confirmed
 *   finding of the same detector and entity extends that one instead of adding a row; re-running a
 *   window changes nothing (already-invalid events are left alone).
 * - A dismissed finding is respected: an overlapping new finding on the same entity is not recorded.
 * - Each finding remembers the events it invalidated (anomaly_events), so dismissing it restores exactly
 *   those (`reviewAnomaly`).
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import { recomputeArmStats } from "../engine/recompute.ts";
import { DETECTION_DEFAULTS, detectAll, lookbackMinutes, type DetectionConfig } from "./detect.ts";
import type { ConversionLink } from "./links.ts";
import type { Finding, TrafficEvent } from "./types.ts";

export interface ScanOptions {
  detection?: DetectionConfig;
  /** Rebuilds a campaign's statistics and reloads them in memory (Engine.recompute); default: the store's recompute only. */
  recompute?: (campaignId: string) => Promise<void>;
}

export interface ScanResult {
  campaignId: string;
  findings: number;
  recorded: number;
  invalidated: number;
  /** [first, last] occurred_at (ms) of the events whose validity changed, for the rollup refresh; null if none. */
  touched: [number, number] | null;
}

const ENTITY_COLUMN = {
  ip: sql`source_ip`,
  user_agent: sql`source_user_agent`,
  publisher: sql`source_publisher`,
  placement: sql`source_placement`,
} as const;

const MINUTE = 60_000;

export async function loadTraffic(db: Db, campaignId: string, from: Date, to: Date): Promise<TrafficEvent[]> {
  const r = await rows<{
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
  }>(
    db,
    sql`select event_id, decision_id, type, value, cost, occurred_at, source_ip, source_user_agent, source_publisher, source_placement
        from events where campaign_id = ${campaignId}::uuid and invalid_reason is null
        and occurred_at >= ${from.toISOString()}::timestamptz and occurred_at < ${to.toISOString()}::timestamptz`,
  );
  return r.map((e) => ({
    id: e.event_id,
    decisionId: e.decision_id,
    type: e.type,
    value: Number(e.value),
    cost: Number(e.cost),
    occurredAt: new Date(e.occurred_at).getTime(),
    ip: e.source_ip,
    userAgent: e.source_user_agent,
    publisher: e.source_publisher,
    placement: e.source_placement,
  }));
}

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
    occurredAt: new Date(c.occurred_at).getTime(),
    value: Number(c.value),
    decisionId: c.decision_id,
    decisionAt: c.decision_at === null ? null : new Date(c.decision_at).getTime(),
    firstClickAt: c.first_click_at === null ? null : new Date(c.first_click_at).getTime(),
    hadClick: Boolean(c.had_click),
  }));
}

export async function scanCampaign(
  db: Db,
  campaign: { id: string; workspaceId: string },
  now: Date,
  opts: ScanOptions = {},
): Promise<ScanResult> {
  const config = opts.detection ?? DETECTION_DEFAULTS;
  const end = Math.floor(now.getTime() / MINUTE) * MINUTE;
  const from = new Date(end - lookbackMinutes(config) * MINUTE);
  const result: ScanResult = { campaignId: campaign.id, findings: 0, recorded: 0, invalidated: 0, touched: null };
  // A second pass sees the consequences of the first: a conversion whose click was just invalidated has
  // no valid click left (orphan), rates shift once a burst is removed. Two passes settle what one scan can.
  for (let pass = 0; pass < 2; pass++) {
    const traffic = await loadTraffic(db, campaign.id, from, new Date(end));
    const links = await loadConversionLinks(db, campaign.id, from, new Date(end));
    const findings = detectAll(traffic, links, end, config);
    let changed = 0;
    for (const f of findings) {
      result.findings++;
      const r = await recordFinding(db, campaign, f);
      if (!r) continue;
      result.recorded++;
      changed += r.invalidated;
      if (r.touched) result.touched = widen(result.touched, r.touched);
    }
    result.invalidated += changed;
    if (changed === 0) break;
  }
  if (result.invalidated > 0) await (opts.recompute ?? ((id: string) => recomputeArmStats(db, id)))(campaign.id);
  return result;
}

/** Scans every active campaign that has events inside the detectors' lookback (the others have nothing to judge). */
export async function scanAll(db: Db, now: Date, opts: ScanOptions = {}): Promise<ScanResult[]> {
  const since = new Date(now.getTime() - lookbackMinutes(opts.detection ?? DETECTION_DEFAULTS) * MINUTE).toISOString();
  const campaigns = await rows<{ id: string; workspace_id: string }>(
    db,
    sql`select c.id, c.workspace_id from campaigns c where c.status = 'active'
        and exists (select 1 from events e where e.campaign_id = c.id and e.occurred_at >= ${since}::timestamptz) order by c.id`,
  );
  const out: ScanResult[] = [];
  for (const c of campaigns) out.push(await scanCampaign(db, { id: c.id, workspaceId: c.workspace_id }, now, opts));
  return out;
}

function widen(a: [number, number] | null, b: [number, number]): [number, number] {
  return a ? [Math.min(a[0], b[0]), Math.max(a[1], b[1])] : b;
}

/** Records (or extends) one finding and invalidates its events; null when a dismissal covers it. */
async function recordFinding(
  db: Db,
  campaign: { id: string; workspaceId: string },
  f: Finding,
): Promise<{ id: string; invalidated: number; touched: [number, number] | null } | null> {
  const ws = new Date(f.windowStart).toISOString();
  const we = new Date(f.windowEnd).toISOString();
  return db.transaction(async (tx) => {
    const overlapping = await rows<{ id: string; status: string }>(
      tx,
      sql`select id, status from anomalies where campaign_id = ${campaign.id}::uuid and detector = ${f.detector}
          and entity_type = ${f.entityType} and entity = ${f.entity}
          and window_start < ${we}::timestamptz and window_end > ${ws}::timestamptz
          order by (status = 'dismissed') desc, created_at limit 1 for update`,
    );
    if (overlapping[0]?.status === "dismissed") return null;
    const details = JSON.stringify(f.details);
    let id: string;
    if (overlapping[0]) {
      id = overlapping[0].id;
      await tx.execute(sql`update anomalies set window_start = least(window_start, ${ws}::timestamptz), window_end = greatest(window_end, ${we}::timestamptz),
          statistic = ${f.statistic}, threshold = ${f.threshold}, details = ${details}::jsonb, updated_at = now() where id = ${id}::uuid`);
    } else {
      const ins = await rows<{ id: string }>(
        tx,
        sql`insert into anomalies (workspace_id, campaign_id, detector, entity_type, entity, category, statistic, threshold, window_start, window_end, details)
            values (${campaign.workspaceId}::uuid, ${campaign.id}::uuid, ${f.detector}, ${f.entityType}, ${f.entity}, ${f.category},
                    ${f.statistic}, ${f.threshold}, ${ws}::timestamptz, ${we}::timestamptz, ${details}::jsonb)
            returning id`,
      );
      id = ins[0].id;
    }
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
      changed = await rows(
        tx,
        sql`update events set invalid_reason = ${f.detector}
            where campaign_id = ${campaign.id}::uuid and invalid_reason is null and ${col} = ${f.entity}
            and occurred_at >= ${ws}::timestamptz and occurred_at < ${we}::timestamptz
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
        const t = new Date(c.occurred_at).getTime();
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
    const [a] = await rows<{ id: string; campaign_id: string; detector: string; status: string }>(
      tx,
      sql`select id, campaign_id, detector, status from anomalies where id = ${id}::uuid and workspace_id = ${workspaceId}::uuid for update`,
    );
    if (!a) return null;
    let changed: { occurred_at: Date | string }[] = [];
    if (status === "dismissed" && a.status !== "dismissed") {
      changed = await rows(
        tx,
        sql`update events e set invalid_reason = null from anomaly_events ae
            where ae.anomaly_id = ${id}::uuid and e.workspace_id = ae.workspace_id and e.event_id = ae.event_id and e.invalid_reason = ${a.detector}
            returning e.occurred_at`,
      );
    } else if (status === "confirmed" && a.status === "dismissed") {
      changed = await rows(
        tx,
        sql`update events e set invalid_reason = ${a.detector} from anomaly_events ae
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
