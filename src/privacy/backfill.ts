/**
 * The one-off step that pseudonymises what was stored raw before src/privacy existed: unit ids of
 * decisions, source IPs and user agents of events, ip / user-agent entries of the blocklist and of
 * anomalies — per workspace, in batches of distinct values, then marked done in `privacy_steps` (so a
 * start reads one tiny row, never scans the log). Workspaces that store raw identifiers keep theirs
 * (decisions still get their unit hash, which erasure needs). Safe to run twice or on several replicas
 * at once: every update only touches rows still in raw form.
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import { pseudonymiseIp, pseudonymiseUserAgent, unitHash, type WorkspacePrivacy } from "./pseudonym.ts";

const BATCH = 5_000;
const STEP = "pseudonymise";

export async function pseudonymiseStoredRows(db: Db): Promise<boolean> {
  const [step] = await rows<{ done_at: unknown }>(db, sql`select done_at from privacy_steps where name = ${STEP}`);
  if (!step || step.done_at !== null) return false;
  const wss = await rows<{ id: string; secret: string; raw_identifiers: boolean }>(
    db,
    sql`select id, secret, raw_identifiers from workspaces order by id`,
  );
  for (const w of wss) {
    const ws: WorkspacePrivacy = { id: w.id, secret: w.secret, rawIdentifiers: w.raw_identifiers };
    await units(db, ws);
    if (ws.rawIdentifiers) continue;
    await values(db, ws, "source_ip", true);
    await values(db, ws, "source_user_agent", false);
    await entities(db, ws, "blocklist");
    await entities(db, ws, "anomalies");
  }
  await db.execute(sql`update privacy_steps set done_at = now() where name = ${STEP}`);
  return true;
}

async function units(db: Db, ws: WorkspacePrivacy): Promise<void> {
  for (;;) {
    const got = await rows<{ u: string }>(
      db,
      sql`select distinct unit_id as u from decisions
          where workspace_id = ${ws.id}::uuid and unit_hash is null and unit_id is not null limit ${BATCH}`,
    );
    if (got.length === 0) return;
    const m = JSON.stringify(got.map((g) => ({ u: g.u, h: unitHash(ws, g.u) })));
    await db.execute(sql`update decisions as d set unit_hash = v.h, unit_id = ${ws.rawIdentifiers ? sql`d.unit_id` : sql`null`}
      from jsonb_to_recordset(${m}::jsonb) as v(u text, h text)
      where d.workspace_id = ${ws.id}::uuid and d.unit_hash is null and d.unit_id = v.u`);
  }
}

async function values(
  db: Db,
  ws: WorkspacePrivacy,
  col: "source_ip" | "source_user_agent",
  isIp: boolean,
): Promise<void> {
  const t = sql.identifier("events");
  const c = sql.identifier(col);
  const raw = isIp ? sql`${c} not like 'ip:%'` : sql`${c} not like 'ua:%' and ${c} not like 'bot:%'`;
  for (;;) {
    const got = await rows<{ v: string }>(
      db,
      sql`select distinct ${c} as v from ${t} where workspace_id = ${ws.id}::uuid and ${c} is not null and ${raw} limit ${BATCH}`,
    );
    if (got.length === 0) return;
    const m = JSON.stringify(
      got.map((g) => ({ v: g.v, p: isIp ? pseudonymiseIp(ws, g.v) : pseudonymiseUserAgent(ws, g.v) })),
    );
    await db.execute(sql`update ${t} as r set ${c} = v.p from jsonb_to_recordset(${m}::jsonb) as v(v text, p text)
      where r.workspace_id = ${ws.id}::uuid and r.${c} = v.v`);
  }
}

/**
 * Blocklist entries and findings on an ip or user agent (few rows): one by one, since two raw IPs of one
 * /24 become one pseudonym — a second blocklist entry of the network is removed (the first blocks it),
 * a second finding keeps its own row with a suffix (its links and counts stay).
 */
async function entities(db: Db, ws: WorkspacePrivacy, table: "blocklist" | "anomalies"): Promise<void> {
  const t = sql.identifier(table);
  const got = await rows<{ id: string; entity_type: string; entity: string }>(
    db,
    sql`select id, entity_type, entity from ${t} where workspace_id = ${ws.id}::uuid
        and ((entity_type = 'ip' and entity not like 'ip:%')
          or (entity_type = 'user_agent' and entity not like 'ua:%' and entity not like 'bot:%')) order by id`,
  );
  for (const r of got) {
    const p = r.entity_type === "ip" ? pseudonymiseIp(ws, r.entity) : pseudonymiseUserAgent(ws, r.entity);
    for (let k = 1; ; k++) {
      const v = k === 1 ? p : `${p}~${k}`;
      const clash =
        table === "blocklist"
          ? sql`select 1 from blocklist o where o.workspace_id = b.workspace_id and o.entity_type = b.entity_type and o.entity = ${v}`
          : sql`select 1 from anomalies o where o.campaign_id = b.campaign_id and o.detector = b.detector and o.entity_type = b.entity_type
                and o.window_start = b.window_start and o.window_end = b.window_end and o.entity = ${v}`;
      const done = await rows(
        db,
        sql`update ${t} as b set entity = ${v} where b.id = ${r.id}::uuid and not exists (${clash}) returning b.id`,
      );
      if (done.length) break;
      if (table === "blocklist") {
        await db.execute(sql`delete from blocklist where id = ${r.id}::uuid`);
        break;
      }
    }
  }
}
