/**
 * Key lifecycle and roles: the workspace's first key is admin; admin creates reader/writer/admin keys
 * (the secret shown once), lists them (no secrets) and revokes them; a revoked key answers 401 at once
 * on this replica and, on a second replica sharing the database, once its key cache expires. A key
 * without the role answers 403 on every kind of route. Plus the per-workspace rate limit (429).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService, type Service } from "../../src/service.ts";
import { onPostgres } from "../helpers/db.ts";
import { createCampaign, decide, expectError, startHarness, type Harness, type Workspace } from "../helpers/service.ts";

let h: Harness;
let admin: Workspace;
let campaign: string;
beforeAll(async () => {
  h = await startHarness({ seed: 5, persistent: onPostgres(), service: { keyCacheMs: 300 } });
  admin = await h.workspace("keys");
  campaign = await createCampaign(admin);
});
afterAll(async () => {
  await h?.close();
});

const as = (key: string) => ({
  get: (path: string) => admin.call("GET", path, { key }),
  post: (path: string, body: unknown) => admin.call("POST", path, { key, body }),
  patch: (path: string, body: unknown) => admin.call("PATCH", path, { key, body }),
  del: (path: string) => admin.call("DELETE", path, { key }),
});

async function newKey(role: string, name?: string) {
  const r = await admin.post("/v1/keys", { role, ...(name ? { name } : {}) });
  expect(r.status, r.text).toBe(201);
  return r.body as { id: string; key: string; prefix: string; name: string | null; role: string; createdAt: string };
}

describe("keys", () => {
  it("the workspace key is admin; POST /v1/keys creates a key of each role, shown once", async () => {
    const listed = await admin.get("/v1/keys");
    expect(listed.status).toBe(200);
    expect(listed.body.keys).toHaveLength(1);
    expect(listed.body.keys[0].role).toBe("admin");
    const k = await newKey("reader", "dashboard");
    expect(k.key.startsWith(k.prefix)).toBe(true);
    expect(k).toMatchObject({ role: "reader", name: "dashboard" });
    const after = await admin.get("/v1/keys");
    const row = after.body.keys.find((x: { id: string }) => x.id === k.id);
    expect(row).toMatchObject({ prefix: k.prefix, role: "reader", name: "dashboard", revokedAt: null });
    expect(JSON.stringify(after.body)).not.toContain(k.key);
  });

  it("rejects an unknown role or field with 400", async () => {
    expectError(await admin.post("/v1/keys", { role: "owner" }), 400);
    expectError(await admin.post("/v1/keys", { role: "reader", scope: "x" }), 400);
  });

  it("reader: GET only", async () => {
    const r = as((await newKey("reader")).key);
    expect((await r.get(`/v1/campaigns/${campaign}`)).status).toBe(200);
    expect((await r.get(`/v1/campaigns/${campaign}/arms`)).status).toBe(200);
    expectError(await r.post(`/v1/campaigns/${campaign}/decisions`, {}), 403);
    expectError(await r.post("/v1/events", { events: [{ id: "x", decisionId: "y", type: "click" }] }), 403);
    expectError(await r.post("/v1/campaigns", { name: "n" }), 403);
    expectError(await r.get("/v1/keys"), 403);
    const f = await r.post(`/v1/campaigns/${campaign}/decisions`, {});
    expect(f.body.error.code).toBe("forbidden");
  });

  it("writer: decisions and events, plus GET; not campaigns, arms, keys or blocklist", async () => {
    const w = as((await newKey("writer")).key);
    const d = await w.post(`/v1/campaigns/${campaign}/decisions`, {});
    expect(d.status, d.text).toBe(201);
    const b = await w.post("/v1/decisions/batch", { requests: [{ campaignId: campaign }] });
    expect(b.status).toBe(200);
    const e = await w.post("/v1/events", { events: [{ id: "w1", decisionId: d.body.decisionId, type: "click" }] });
    expect(e.status, e.text).toBe(200);
    expect((await w.get(`/v1/campaigns/${campaign}`)).status).toBe(200);
    expectError(await w.patch(`/v1/campaigns/${campaign}`, { name: "x" }), 403);
    expectError(await w.post(`/v1/campaigns/${campaign}/arms`, { key: "zz" }), 403);
    expectError(await w.post("/v1/keys", { role: "admin" }), 403);
    expectError(await w.post("/v1/blocklist", { entityType: "ip", entity: "1.1.1.1" }), 403);
    expectError(await w.del("/v1/keys/00000000-0000-0000-0000-000000000000"), 403);
  });

  it("an admin key made by POST /v1/keys can do admin things", async () => {
    const a = as((await newKey("admin")).key);
    expect((await a.patch(`/v1/campaigns/${campaign}`, { name: "renamed" })).status).toBe(200);
    expect((await a.get("/v1/keys")).status).toBe(200);
  });

  it("a revoked key answers 401 at once on this replica; revoking twice keeps the first time", async () => {
    const k = await newKey("writer");
    expect((await as(k.key).get(`/v1/campaigns/${campaign}`)).status).toBe(200); // cached now
    const del = await admin.call("DELETE", `/v1/keys/${k.id}`);
    expect(del.status, del.text).toBe(200);
    expect(typeof del.body.revokedAt).toBe("string");
    expectError(await as(k.key).get(`/v1/campaigns/${campaign}`), 401);
    const again = await admin.call("DELETE", `/v1/keys/${k.id}`);
    expect(again.body.revokedAt).toBe(del.body.revokedAt);
    const listed = await admin.get("/v1/keys");
    expect(listed.body.keys.find((x: { id: string }) => x.id === k.id).revokedAt).toBe(del.body.revokedAt);
  });

  // Two replicas need a shared server: PGlite is one process's database.
  it.runIf(onPostgres())(
    "a key revoked on one replica answers 401 on another within its key cache lifetime",
    async () => {
      const k = await newKey("writer");
      const other: Service = await buildService({ ...h.options, keyCacheMs: 300 });
      try {
        const onOther = () =>
          other.app.request(`http://test/v1/campaigns/${campaign}`, { headers: { authorization: `Bearer ${k.key}` } });
        expect((await onOther()).status).toBe(200); // cached there now
        expect((await admin.call("DELETE", `/v1/keys/${k.id}`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 400)); // past the other replica's key cache lifetime
        expect((await onOther()).status).toBe(401);
      } finally {
        await other.close();
      }
    },
  );

  it("revoking a key of another workspace or an unknown id is 404", async () => {
    const otherWs = await h.workspace("other");
    const theirs = await otherWs.post("/v1/keys", { role: "reader" });
    expectError(await admin.call("DELETE", `/v1/keys/${theirs.body.id}`), 404);
    expectError(await admin.call("DELETE", "/v1/keys/not-a-uuid"), 404);
    expect((await as(theirs.body.key).get("/v1/campaigns")).status).toBe(200);
  });
});

describe("rate limits", () => {
  let limited: Harness;
  beforeAll(async () => {
    // A refill of one token per 1000 s: the count below does not depend on how fast the machine is.
    limited = await startHarness({ seed: 6, service: { rateLimit: { perSecond: 0.001, burst: 20 } } });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it("a workspace past its burst gets 429 rate_limited with Retry-After; another workspace is unaffected", async () => {
    const a = await limited.workspace("a");
    const b = await limited.workspace("b");
    const c = await createCampaign(a);
    const replies = [];
    for (let i = 0; i < 40; i++) replies.push(await decide(a, c));
    const statuses = replies.map((r) => r.status);
    // 1 token went to the campaign creation.
    expect(statuses.filter((s) => s === 201).length).toBe(19);
    expect(statuses.slice(19).every((s) => s === 429)).toBe(true);
    const limitedReply = replies.find((r) => r.status === 429);
    expect(limitedReply?.body.error.code).toBe("rate_limited");
    expect(Number(limitedReply?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await b.get("/v1/campaigns")).status).toBe(200);
  });
});
