/**
 * Privacy by design through the API, on PGlite and PostgreSQL: what the decision log and the events
 * store (pseudonyms, not raw ids), the raw-storage setting, erasure of one unit (neither its id nor its
 * hash left in any table), deletion of an archived campaign, decisions without consent, and retention.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { startJobs, JOBS_DEFAULTS } from "../../src/jobs/index.ts";
import { rows } from "../../src/store/db.ts";
import {
  createCampaign,
  creativeCampaign,
  decide,
  eventId,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
const db = () => h.service.deps.db;
const q = <T = Record<string, unknown>>(s: ReturnType<typeof sql>) => rows<T>(db(), s);
const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0 Safari/537.36";

/** Tables (public schema, partitioned ones once) and, per table, the rows whose JSON text contains `needle`. */
async function findAnywhere(needle: string): Promise<Record<string, number>> {
  const tables = await q<{ t: string }>(
    // every table of the schema; a partitioned table once (its partitions are read through it)
    sql`select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by 1`,
  );
  expect(tables.length).toBeGreaterThan(10);
  const out: Record<string, number> = {};
  for (const { t } of tables) {
    const [r] = await q<{ n: number }>(
      sql`select count(*)::int as n from ${sql.identifier(t)} as x where strpos(row_to_json(x)::text, ${needle}) > 0`,
    );
    if (Number(r.n) > 0) out[t] = Number(r.n);
  }
  return out;
}

beforeAll(async () => {
  h = await startHarness({ seed: 7 });
  ws = await h.workspace("privacy");
});
afterAll(async () => {
  await h?.close();
});

describe("pseudonymous identifiers by default", () => {
  it("a decision echoes the unit id but stores only its keyed hash; events store truncated, hashed IPs and user-agent classes", async () => {
    const cid = await createCampaign(ws, creativeCampaign());
    const d = await decide(ws, cid, { unitId: "alice@example.com" });
    expect(d.status).toBe(201);
    expect(d.body.unitId).toBe("alice@example.com");
    const [row] = await q<{ unit_id: string | null; unit_hash: string | null }>(
      sql`select unit_id, unit_hash from decisions where id = ${d.body.decisionId}::uuid`,
    );
    expect(row.unit_id).toBeNull();
    expect(row.unit_hash).toMatch(/^[0-9a-f]{64}$/);
    // the same unit maps to the same hash (a unit's rows can be found and erased)
    const d2 = await decide(ws, cid, { unitId: "alice@example.com" });
    const [row2] = await q<{ unit_hash: string }>(
      sql`select unit_hash from decisions where id = ${d2.body.decisionId}::uuid`,
    );
    expect(row2.unit_hash).toBe(row.unit_hash);

    const e = await ws.post("/v1/events", {
      events: [
        {
          id: eventId(),
          decisionId: d.body.decisionId,
          type: "impression",
          source: { ip: "198.51.100.28", userAgent: CHROME, publisher: "pub-1" },
        },
        {
          id: eventId(),
          decisionId: d.body.decisionId,
          type: "click",
          source: { ip: "198.51.100.99", userAgent: "Googlebot/2.1 (+http://www.google.com/bot.html)" },
        },
      ],
    });
    expect(e.body.accepted).toBe(2);
    // the declared bot is still recognised from its stored class
    expect(e.body.results[1]).toMatchObject({ invalid: true, reason: "declared_bot" });
    const evs = await q<{ source_ip: string; source_user_agent: string; source_publisher: string | null }>(
      sql`select source_ip, source_user_agent, source_publisher from events where decision_id = ${d.body.decisionId}::uuid order by type desc`,
    );
    expect(evs[0].source_ip).toMatch(/^ip:/);
    expect(evs[0].source_ip).toBe(evs[1].source_ip); // one /24
    expect(evs[0].source_user_agent).toMatch(/^ua:/);
    expect(evs[1].source_user_agent).toMatch(/^bot:isbot:.*#/);
    expect(evs[0].source_publisher).toBe("pub-1");
    expect(await findAnywhere("alice@example.com")).toEqual({});
    expect(await findAnywhere("198.51.100")).toEqual({});
    expect(await findAnywhere("Chrome/121")).toEqual({});
    // the export hands out the hash, never the id
    const x = await ws.get(`/v1/campaigns/${cid}/decisions/export`);
    expect(x.text).toContain(row.unit_hash as string);
    expect(x.text).not.toContain("alice");
  });

  it("blocking an ip blocks its network's pseudonym, also for a finding's pseudonym given as is", async () => {
    const cid = await createCampaign(ws, creativeCampaign());
    const d = await decide(ws, cid, { unitId: "bob" });
    const b = await ws.post("/v1/blocklist", { entityType: "ip", entity: "203.0.113.5" });
    expect(b.status).toBe(201);
    expect(b.body.entity).toMatch(/^ip:/);
    const e = await ws.post("/v1/events", {
      events: [{ id: eventId(), decisionId: d.body.decisionId, type: "click", source: { ip: "203.0.113.77" } }],
    });
    expect(e.body.results[0]).toMatchObject({ invalid: true, reason: "blocklist:ip" });
  });

  it("the workspace setting: raw storage off by default, switched on stores raw ids (and still the hash)", async () => {
    const w = await h.workspace("raw");
    const s = await w.get("/v1/workspace/settings");
    expect(s.status).toBe(200);
    expect(s.body).toEqual({ rawIdentifiers: false, retention: { decisionsDays: 90, eventsDays: 90 } });
    const bad = await w.patch("/v1/workspace/settings", { rawIdentifiers: "yes" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("rawIdentifiers");
    const bad2 = await w.patch("/v1/workspace/settings", { retention: { eventsDays: 0 } });
    expect(bad2.status).toBe(400);
    expect(JSON.stringify(bad2.body)).toContain("retention.eventsDays");
    const p = await w.patch("/v1/workspace/settings", { rawIdentifiers: true });
    expect(p.body.rawIdentifiers).toBe(true);
    const cid = await createCampaign(w, creativeCampaign());
    const d = await decide(w, cid, { unitId: "carol" });
    const [row] = await q<{ unit_id: string | null; unit_hash: string | null }>(
      sql`select unit_id, unit_hash from decisions where id = ${d.body.decisionId}::uuid`,
    );
    expect(row.unit_id).toBe("carol");
    expect(row.unit_hash).toMatch(/^[0-9a-f]{64}$/);
    await w.post("/v1/events", {
      events: [
        {
          id: eventId(),
          decisionId: d.body.decisionId,
          type: "click",
          source: { ip: "192.0.2.44", userAgent: CHROME },
        },
      ],
    });
    const [ev] = await q<{ source_ip: string; source_user_agent: string }>(
      sql`select source_ip, source_user_agent from events where decision_id = ${d.body.decisionId}::uuid`,
    );
    expect(ev).toEqual({ source_ip: "192.0.2.44", source_user_agent: CHROME });
    // a reader key may read the settings but not change them
    const k = await w.post("/v1/keys", { role: "reader" });
    const r = await w.call("PATCH", "/v1/workspace/settings", { key: k.body.key, body: { rawIdentifiers: false } });
    expect(r.status).toBe(403);
  });
});

describe("send-time decisions", () => {
  it("log the recipient's time zone (evaluations can use it), exported with the decision", async () => {
    const cid = await createCampaign(ws, {
      name: "send",
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
    });
    const d = await decide(ws, cid, { unitId: "erin", timezone: "Europe/Paris" });
    expect(d.status).toBe(201);
    const [row] = await q<{ timezone: string | null }>(
      sql`select timezone from decisions where id = ${d.body.decisionId}::uuid`,
    );
    expect(row.timezone).toBe("Europe/Paris");
    const x = await ws.get(`/v1/campaigns/${cid}/decisions/export`);
    expect(JSON.parse(x.text.trim().split("\n")[0]).timezone).toBe("Europe/Paris");
    const creative = await createCampaign(ws, creativeCampaign());
    const c = await decide(ws, creative, { unitId: "erin" });
    const [r2] = await q<{ timezone: string | null }>(
      sql`select timezone from decisions where id = ${c.body.decisionId}::uuid`,
    );
    expect(r2.timezone).toBeNull();
  });
});

describe("erasure of one unit", () => {
  it("removes its decisions, their events and finding links; neither id nor hash remains; what was learned stays", async () => {
    const cid = await createCampaign(ws, creativeCampaign());
    const mine = [await decide(ws, cid, { unitId: "erase-me-7" }), await decide(ws, cid, { unitId: "erase-me-7" })];
    const other = await decide(ws, cid, { unitId: "keep-me" });
    const t0 = new Date(Date.now() - 60_000).toISOString();
    const r = await ws.post("/v1/events", {
      events: [
        ...mine.map((d) => ({
          id: eventId(),
          decisionId: d.body.decisionId,
          type: "click",
          source: { ip: "100.64.9.1" },
        })),
        { id: eventId(), decisionId: mine[0].body.decisionId, type: "conversion", value: 12 },
        { id: eventId(), decisionId: other.body.decisionId, type: "conversion", value: 3 },
      ],
    });
    expect(r.body.accepted).toBe(4);
    // a retroactive block makes a finding that links the unit's clicks
    const b = await ws.post("/v1/blocklist", { entityType: "ip", entity: "100.64.9.1", retroactive: { from: t0 } });
    expect(b.body.retroactive.invalidatedEvents).toBe(2);
    const [{ hash }] = await q<{ hash: string }>(
      sql`select unit_hash as hash from decisions where id = ${mine[0].body.decisionId}::uuid`,
    );
    expect(Object.keys(await findAnywhere(hash))).toEqual(["decisions"]);
    const before = await q<{ n: number }>(
      sql`select sum(n)::float8 as n from arm_stats where campaign_id = ${cid}::uuid`,
    );

    const del = await ws.call("DELETE", "/v1/units/erase-me-7");
    expect(del.status).toBe(200);
    expect(del.body.removed).toEqual({ decisions: 2, events: 3, anomalyEvents: 2 });
    expect(await findAnywhere(hash)).toEqual({});
    expect(await findAnywhere("erase-me-7")).toEqual({});
    for (const d of mine) expect(await findAnywhere(d.body.decisionId)).toEqual({});
    // the other unit is untouched; the learned statistics stay
    const [kept] = await q<{ n: number }>(
      sql`select count(*)::int as n from decisions where id = ${other.body.decisionId}::uuid`,
    );
    expect(Number(kept.n)).toBe(1);
    const after = await q<{ n: number }>(
      sql`select sum(n)::float8 as n from arm_stats where campaign_id = ${cid}::uuid`,
    );
    expect(after).toEqual(before);
    // audited without the id
    const audit = await q<{ kind: string; removed: Record<string, number>; key_id: string | null }>(
      sql`select kind, removed, key_id from erasures where workspace_id = ${ws.id}::uuid and kind = 'unit'`,
    );
    expect(audit).toHaveLength(1);
    expect(audit[0].removed).toEqual({ decisions: 2, events: 3, anomalyEvents: 2 });
    expect(audit[0].key_id).not.toBeNull();
    // events for an erased decision are no longer attributed; erasing again removes nothing
    const late = await ws.post("/v1/events", {
      events: [{ id: eventId(), decisionId: mine[1].body.decisionId, type: "click" }],
    });
    expect(late.body.results[0]).toMatchObject({ status: "rejected", reason: "unknown_decision" });
    expect((await ws.call("DELETE", "/v1/units/erase-me-7")).body.removed).toEqual({
      decisions: 0,
      events: 0,
      anomalyEvents: 0,
    });
  });

  it("only in the caller's workspace, and only with an admin key", async () => {
    const other = await h.workspace("other");
    const cid = await createCampaign(other, creativeCampaign());
    await decide(other, cid, { unitId: "shared-id" });
    const mine = await createCampaign(ws, creativeCampaign());
    await decide(ws, mine, { unitId: "shared-id" });
    const k = await ws.post("/v1/keys", { role: "writer" });
    expect((await ws.call("DELETE", "/v1/units/shared-id", { key: k.body.key })).status).toBe(403);
    expect((await ws.call("DELETE", "/v1/units/shared-id")).body.removed.decisions).toBe(1);
    const [n] = await q<{ n: number }>(
      sql`select count(*)::int as n from decisions where workspace_id = ${other.id}::uuid`,
    );
    expect(Number(n.n)).toBe(1);
  });
});

describe("deleting a campaign", () => {
  it("is refused (409) unless archived; then removes every row of it", async () => {
    const cid = await createCampaign(ws, creativeCampaign());
    const d = await decide(ws, cid, { unitId: "u1" });
    await ws.post("/v1/events", {
      events: [{ id: eventId(), decisionId: d.body.decisionId, type: "conversion", value: 2 }],
    });
    const refused = await ws.call("DELETE", `/v1/campaigns/${cid}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("archive");
    expect((await ws.patch(`/v1/campaigns/${cid}`, { status: "archived" })).status).toBe(200);
    const del = await ws.call("DELETE", `/v1/campaigns/${cid}`);
    expect(del.status).toBe(200);
    expect(del.body.removed).toMatchObject({ decisions: 1, events: 1, arms: 3 });
    expect((await ws.get(`/v1/campaigns/${cid}`)).status).toBe(404);
    expect((await ws.call("DELETE", `/v1/campaigns/${cid}`)).status).toBe(404);
    const left = await findAnywhere(cid);
    expect(Object.keys(left)).toEqual(["erasures"]);
  });
});

describe("decisions without consent to personalisation", () => {
  it("are served by the non-contextual policy, logged with their propensity, with neither context nor unit", async () => {
    const spec = creativeCampaign({
      strategy: { type: "linucb" },
      contextFeatures: [{ name: "device", type: "categorical", values: ["ios", "web"] }],
    });
    const a = await createCampaign(ws, spec);
    const b = await createCampaign(ws, spec);
    const devices = ["ios", "web", "ios", "ios", "web", "ios"];
    for (const device of devices) {
      const d = await decide(ws, a, { unitId: "dave", context: { device }, consent: { personalisation: false } });
      expect(d.status).toBe(201);
      expect(d.body.unitId).toBe("dave");
      const [row] = await q<{ context: unknown; unit_id: unknown; unit_hash: unknown; propensity: number }>(
        sql`select context, unit_id, unit_hash, propensity from decisions where id = ${d.body.decisionId}::uuid`,
      );
      expect(row).toEqual({ context: null, unit_id: null, unit_hash: null, propensity: d.body.propensity });
      await decide(ws, b, {});
    }
    // the context was ignored: the trials' design matrices equal those of decisions made without one
    const xx = async (id: string) => {
      const rs = await q<{ xx: number[] }>(
        sql`select xx from arm_stats where campaign_id = ${id}::uuid order by arm_key`,
      );
      const sum = new Array(rs[0].xx.length).fill(0);
      for (const r of rs)
        r.xx.forEach((v, i) => {
          sum[i] += Number(v);
        });
      return sum;
    };
    const [xa, xb] = [await xx(a), await xx(b)];
    expect(xa).toEqual(xb);
    // …and differ from personalised decisions' (the check can fail)
    const c = await createCampaign(ws, spec);
    for (const device of devices) await decide(ws, c, { context: { device } });
    expect(await xx(c)).not.toEqual(xa);
    expect(await findAnywhere("dave")).toEqual({});
    const bad = await decide(ws, a, { consent: { personalisation: "no" } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("consent.personalisation");
  });
});

describe("retention", () => {
  it("the job deletes decisions and events older than each workspace's period; rollups stay", async () => {
    const short = await h.workspace("short");
    const long = await h.workspace("long");
    expect(
      (await long.patch("/v1/workspace/settings", { retention: { decisionsDays: 400, eventsDays: 400 } })).status,
    ).toBe(200);
    const ids: Record<string, string> = {};
    for (const w of [short, long]) {
      const cid = await createCampaign(w, creativeCampaign());
      ids[w.id] = cid;
      await decide(w, cid, { unitId: "fresh" });
      await h.service.deps.engine.flush();
      for (const [days, tag] of [
        [100, "old"],
        [10, "recent"],
      ] as const) {
        const t = new Date(Date.now() - days * 86_400_000).toISOString();
        await db().execute(sql`insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, strategy_version, created_at)
          values (gen_random_uuid(), ${w.id}::uuid, ${cid}::uuid, 'a', 0.5, 1, ${t}::timestamptz)`);
        await db().execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, occurred_at, received_at, attributed)
          select workspace_id, ${`${tag}-ev`}, id, campaign_id, arm_key, 'click', created_at, created_at, true from decisions
          where campaign_id = ${cid}::uuid and created_at = ${t}::timestamptz`);
      }
      await db().execute(
        sql`insert into arm_hourly (campaign_id, arm_key, hour, decisions) values (${cid}::uuid, 'a', 1000, 1)`,
      );
    }
    const jobs = startJobs(
      { database: h.service.deps.database, logger: h.service.deps.logger },
      { ...JOBS_DEFAULTS, fraudScan: false, rollups: false, gateRefresh: false, consistency: false, retention: false },
    );
    await jobs.run("retention");
    await jobs.stop();
    const count = async (w: Workspace) => {
      const [r] = await q<{ d: number; e: number; h: number }>(
        sql`select (select count(*) from decisions where campaign_id = ${ids[w.id]}::uuid)::int as d,
          (select count(*) from events where campaign_id = ${ids[w.id]}::uuid)::int as e,
          (select count(*) from arm_hourly where campaign_id = ${ids[w.id]}::uuid)::int as h`,
      );
      return { decisions: Number(r.d), events: Number(r.e), rollups: Number(r.h) };
    };
    expect(await count(short)).toEqual({ decisions: 2, events: 1, rollups: 1 });
    expect(await count(long)).toEqual({ decisions: 3, events: 2, rollups: 1 });
  });
});
