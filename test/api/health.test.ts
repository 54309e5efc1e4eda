/**
 * Operational endpoints: /healthz, /metrics (Prometheus text with decision, event and latency series),
 * /openapi.json (generated from the validating schemas: every contract route present), /docs; and a
 * database that cannot be reached gives 503 quickly instead of hanging.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService, type Service } from "../../src/service.ts";
import {
  ADMIN_KEY,
  createCampaign,
  decide,
  eventId,
  expectError,
  startHarness,
  type Harness,
} from "../helpers/service.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe("GET /healthz", () => {
  it("answers 200 when the database is reachable", async () => {
    const r = await h.get("/healthz");
    expect(r.status).toBe(200);
  });
});

describe("GET /metrics", () => {
  it("is Prometheus text with decision, event and latency series", async () => {
    const ws = await h.workspace("metrics");
    const id = await createCampaign(ws);
    const d = (await decide(ws, id)).body;
    await ws.post("/v1/events", { events: [{ id: eventId(), decisionId: d.decisionId, type: "click" }] });
    const r = await h.get("/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type") ?? "").toContain("text/plain");
    expect(r.text).toMatch(/^# HELP /m);
    expect(r.text).toMatch(/^# TYPE \S*decision\S* (counter|histogram|summary)/m);
    expect(r.text).toMatch(/^# TYPE \S*event\S* (counter|histogram|summary)/m);
    expect(r.text).toMatch(/_bucket\{[^}]*le="/);
    // the decision counter has counted ours
    const m = r.text.match(/^(\S*decisions?\S*_total)(\{[^}]*\})? (\d+(\.\d+)?)$/m);
    expect(m).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThanOrEqual(1);
  });
});

describe("GET /openapi.json and /docs", () => {
  it("documents every route of the contract with its schemas", async () => {
    const r = await h.get("/openapi.json");
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(String(doc.openapi)).toMatch(/^3\./);
    const paths = Object.keys(doc.paths).map((p) => p.replace(/\{[^}]+\}/g, "{}"));
    for (const p of [
      "/v1/workspaces",
      "/v1/campaigns",
      "/v1/campaigns/{}",
      "/v1/campaigns/{}/arms",
      "/v1/campaigns/{}/arms/{}",
      "/v1/campaigns/{}/decisions",
      "/v1/decisions/batch",
      "/v1/events",
    ]) {
      expect(paths).toContain(p);
    }
    const create = doc.paths["/v1/campaigns"].post;
    expect(create.requestBody).toBeDefined();
    // the validating schema itself: enums and limits appear in the document
    const text = JSON.stringify(doc);
    for (const word of ["objective", "send_time", "channel", "profit", "attributionWindowHours", "contextFeatures"]) {
      expect(text).toContain(word);
    }
    expect(text).toMatch(/"maxItems":1000/);
    // every error status of the contract is documented somewhere
    const statuses = new Set<string>();
    for (const item of Object.values(doc.paths) as Array<Record<string, { responses?: Record<string, unknown> }>>) {
      for (const op of Object.values(item)) for (const s of Object.keys(op.responses ?? {})) statuses.add(s);
    }
    for (const s of ["200", "201", "400", "401", "404", "409", "503"]) expect(statuses).toContain(s);
  });

  it("serves a docs page", async () => {
    const r = await h.get("/docs");
    expect(r.status).toBe(200);
    expect(r.text.toLowerCase()).toContain("<html");
  });
});

describe("unknown routes", () => {
  it("answer 404 in the error shape", async () => {
    expectError(await h.get("/v1/nothing-here"), 404);
  });
});

describe("database unreachable", () => {
  let svc: Service | undefined;
  afterAll(async () => {
    await svc?.close().catch(() => {});
  });

  it("a PostgreSQL URL to a closed port gives 503 from /healthz and /v1, quickly, never hanging", {
    timeout: 20_000,
  }, async () => {
    const port = await closedPort();
    svc = await buildService({
      databaseUrl: `postgres://postgres@127.0.0.1:${port}/nothing`,
      adminKey: ADMIN_KEY,
      logLevel: "silent",
      seed: 1,
    });
    const health = await svc.app.request("http://test/healthz");
    expect(health.status).toBe(503);
    const body = (await health.json()) as { error?: { code?: string } };
    expect(typeof body.error?.code).toBe("string");
    const ws = await svc.app.request("http://test/v1/workspaces", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "x" }),
    });
    expect(ws.status).toBe(503);
  });
});

/** A port nothing listens on: bind an ephemeral one, then release it. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
