/**
 * The one-off pseudonymisation of rows stored raw before src/privacy (backfill.ts), run at start while
 * `privacy_steps.pseudonymise` is not done: unit ids, IPs, user agents, blocklist and finding entities.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { pseudonymiseIp, pseudonymiseUserAgent, unitHash } from "../../src/privacy/pseudonym.ts";
import { rows } from "../../src/store/db.ts";
import { createCampaign, creativeCampaign, startHarness, type Harness, type Workspace } from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
const q = <T = Record<string, unknown>>(s: ReturnType<typeof sql>) => rows<T>(h.service.deps.db, s);

beforeAll(async () => {
  h = await startHarness({ persistent: true });
  ws = await h.workspace("legacy");
});
afterAll(async () => {
  await h?.close();
});

it("rows stored raw before pseudonymisation are pseudonymised once at the next start", async () => {
  const cid = await createCampaign(ws, creativeCampaign());
  // what main stored before: raw unit id, raw ip and user agent, raw blocklist and finding entities
  const [d] = await q<{
    id: string;
  }>(sql`insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, strategy_version, unit_id)
    values (gen_random_uuid(), ${ws.id}::uuid, ${cid}::uuid, 'a', 0.5, 1, 'legacy-user') returning id`);
  await q(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, occurred_at, attributed, source_ip, source_user_agent)
    values (${ws.id}::uuid, 'e1', ${d.id}::uuid, ${cid}::uuid, 'a', 'click', now(), true, '198.51.100.7', 'curl/8.0')`);
  await q(
    sql`insert into blocklist (workspace_id, entity_type, entity) values (${ws.id}::uuid, 'ip', '198.51.100.7'), (${ws.id}::uuid, 'ip', '198.51.100.8')`,
  );
  await q(sql`insert into anomalies (workspace_id, campaign_id, detector, entity_type, entity, category, statistic, threshold, window_start, window_end, details)
    values (${ws.id}::uuid, ${cid}::uuid, 'click_burst', 'ip', '198.51.100.7', 'SIVT', 9, 1, now(), now(), '{}')`);
  await q(sql`update privacy_steps set done_at = null where name = 'pseudonymise'`);
  await h.restart();
  const [w] = await q<{ secret: string }>(sql`select secret from workspaces where id = ${ws.id}::uuid`);
  const priv = { id: ws.id, secret: w.secret, rawIdentifiers: false };
  const [row] = await q<{ unit_id: string | null; unit_hash: string }>(
    sql`select unit_id, unit_hash from decisions where id = ${d.id}::uuid`,
  );
  expect(row).toEqual({ unit_id: null, unit_hash: unitHash(priv, "legacy-user") });
  const [ev] = await q<{ source_ip: string; source_user_agent: string }>(
    sql`select source_ip, source_user_agent from events where event_id = 'e1'`,
  );
  expect(ev).toEqual({
    source_ip: pseudonymiseIp(priv, "198.51.100.7"),
    source_user_agent: pseudonymiseUserAgent(priv, "curl/8.0"),
  });
  // two raw IPs of one /24: one blocklist entry remains, blocking the network
  const bl = await q<{ entity: string }>(sql`select entity from blocklist where workspace_id = ${ws.id}::uuid`);
  expect(bl).toEqual([{ entity: pseudonymiseIp(priv, "198.51.100.7") }]);
  const [an] = await q<{ entity: string }>(sql`select entity from anomalies where workspace_id = ${ws.id}::uuid`);
  expect(an.entity).toBe(pseudonymiseIp(priv, "198.51.100.7"));
  const [step] = await q<{ done: boolean }>(
    sql`select done_at is not null as done from privacy_steps where name = 'pseudonymise'`,
  );
  expect(step.done).toBe(true);
  // the erasure finds the legacy unit by its hash
  expect((await ws.call("DELETE", "/v1/units/legacy-user")).body.removed).toEqual({
    decisions: 1,
    events: 1,
    anomalyEvents: 0,
  });
});
