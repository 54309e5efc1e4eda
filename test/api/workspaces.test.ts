/**
 * POST /v1/workspaces: admin-only creation, the API key shown once and stored hashed, and that the key it
 * returns is the one that authenticates the workspace.
 */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, expectError, expectInvalid, startHarness, type Harness } from "../helpers/service.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe("POST /v1/workspaces — happy", () => {
  it("creates a workspace and returns its id, name and API key", async () => {
    const r = await h.call("POST", "/v1/workspaces", { key: ADMIN_KEY, body: { name: "acme" } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: "acme" });
    expect(typeof r.body.id).toBe("string");
    expect(typeof r.body.apiKey).toBe("string");
    expect(r.body.apiKey.length).toBeGreaterThanOrEqual(20);
  });

  it("gives each workspace its own id and key", async () => {
    const a = await h.workspace("one");
    const b = await h.workspace("two");
    expect(a.id).not.toBe(b.id);
    expect(a.apiKey).not.toBe(b.apiKey);
  });

  it("the returned key authenticates /v1 calls of that workspace", async () => {
    const ws = await h.workspace("keyed");
    const r = await ws.get("/v1/campaigns");
    expect(r.status).toBe(200);
  });

  it.runIf(Boolean(process.env.DATABASE_URL))("stores the key hashed, never in clear", async () => {
    const ws = await h.workspace("hashed");
    const sql = postgres(h.options.databaseUrl as string, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql`select * from api_keys`;
      expect(rows.length).toBeGreaterThan(0);
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(ws.apiKey);
    } finally {
      await sql.end();
    }
  });
});

describe("POST /v1/workspaces — errors and security", () => {
  it("401 without the admin key", async () => {
    const r = await h.call("POST", "/v1/workspaces", { body: { name: "x" } });
    expectError(r, 401);
  });

  it("401 with a wrong admin key", async () => {
    const r = await h.call("POST", "/v1/workspaces", { key: `${ADMIN_KEY}x`, body: { name: "x" } });
    expect(r.status).toBe(401);
  });

  it("401 with a workspace API key instead of the admin key", async () => {
    const ws = await h.workspace("not-admin");
    const r = await h.call("POST", "/v1/workspaces", { key: ws.apiKey, body: { name: "x" } });
    expect(r.status).toBe(401);
  });

  it("the admin key is not a workspace key", async () => {
    const r = await h.call("GET", "/v1/campaigns", { key: ADMIN_KEY });
    expect(r.status).toBe(401);
  });

  it("400 naming the field when name is missing or empty", async () => {
    for (const body of [{}, { name: "" }, { name: 42 }]) {
      const r = await h.call("POST", "/v1/workspaces", { key: ADMIN_KEY, body });
      expectInvalid(r, "name");
    }
  });
});
