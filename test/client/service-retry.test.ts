/**
 * Retries against the running service (PGlite, or PostgreSQL with DATABASE_URL), not a scripted one: 429s
 * from its own per-workspace rate limiter and 503s from its own "database unavailable" path (the readiness
 * probe forced down for a few requests), each with the service's Retry-After. What the log holds after
 * them is counted: a decision refused with 429/503 and retried is logged once; a decision whose answer is
 * lost after the service made it is not sent again (one decision, and the caller hears `network`), while
 * events and decision imports are (idempotent: still stored once). And the CLI's exit code when the
 * service stays unavailable.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdbanditClient, RetryInfo } from "../../src/client/index.ts";
import { EXIT } from "../../src/cli/output.ts";
import { creativeCampaign } from "../helpers/service.ts";
import { cli } from "../cli/run.ts";
import { failure } from "./fake.ts";
import { startServed, type Served } from "./serve.ts";

let s: Served;
let apiKey: string;
let campaignId: string;
beforeAll(async () => {
  s = await startServed({ seed: 21 });
  apiKey = (await s.workspace("retry")).apiKey;
  campaignId = (await s.client(apiKey).campaigns.create(creativeCampaign({ name: "retries" }) as never)).id;
});
afterAll(() => s?.close());

/** A client whose sleeps are recorded and not waited for. */
function recording(extra: Parameters<Served["client"]>[1] = {}) {
  const retries: RetryInfo[] = [];
  const client = s.client(apiKey, {
    sleep: async () => {},
    onRetry: (i) => void retries.push(i),
    ...extra,
  });
  return { client, retries };
}

async function logged(c: AdbanditClient, id: string): Promise<string[]> {
  const text = await new Response(await c.exportDecisions(id)).text();
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).decisionId);
}

/** Makes the service answer 503 (its own unavailable path) to the next `n` requests. */
function unavailableFor(n: number): () => number {
  const deps = s.h.service.deps as { ready: () => boolean };
  const real = deps.ready;
  let left = n;
  let refused = 0;
  deps.ready = () => {
    if (left > 0) {
      left--;
      refused++;
      if (left === 0) deps.ready = real;
      return false;
    }
    return real();
  };
  return () => refused;
}

describe("429 from the service's rate limiter", () => {
  let limited: Served;
  beforeAll(async () => {
    // Bursts of 2, 2 requests/s: the limiter answers 429 with Retry-After: 1.
    limited = await startServed({ seed: 22, service: { rateLimit: { perSecond: 2, burst: 2 } } });
  });
  afterAll(() => limited?.close());

  it("decisions refused by the limiter wait its Retry-After, are sent again and are logged once each", async () => {
    const key = (await limited.workspace("limited")).apiKey;
    // Real sleeps here: the limiter's bucket must refill.
    const retries: RetryInfo[] = [];
    const c = limited.client(key, { onRetry: (i) => void retries.push(i), retries: 8 });
    const id = (await c.campaigns.create(creativeCampaign({ name: "limited" }) as never)).id;
    const made = await Promise.all(Array.from({ length: 6 }, (_, i) => c.decide(id, { unitId: `u${i}` })));
    expect(new Set(made.map((d) => d.decisionId)).size).toBe(6);
    expect(retries.length).toBeGreaterThanOrEqual(4);
    expect(retries.every((r) => r.status === 429 && r.delayMs === 1000)).toBe(true);
    expect((await logged(c, id)).sort()).toEqual(made.map((d) => d.decisionId).sort());
    // Events too: refused, retried, counted once.
    const events = made.map((d) => ({ id: `rl-${d.decisionId}`, decisionId: d.decisionId, type: "click" as const }));
    const sent = await Promise.all(events.map((e) => c.sendEvents([e])));
    expect(sent.map((r) => r.accepted)).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await c.reports.campaign(id)).total.campaign.clicks).toBe(6);
  }, 60_000);
});

describe("503 from the service (database unavailable)", () => {
  it("decide, sendEvents and importDecisions wait Retry-After and succeed; each is stored once", async () => {
    const { client: c, retries } = recording();
    const refused = unavailableFor(2);
    const d = await c.decide(campaignId, { unitId: "after-503" });
    expect(refused()).toBe(2);
    expect(retries.map((r) => [r.status, r.delayMs])).toEqual([
      [503, 1000],
      [503, 1000],
    ]);
    expect((await logged(c, campaignId)).filter((id) => id === d.decisionId)).toHaveLength(1);

    unavailableFor(1);
    const ev = await c.sendEvents([{ id: `e-${d.decisionId}`, decisionId: d.decisionId, type: "click" }]);
    expect(ev).toMatchObject({ accepted: 1, duplicates: 0 });

    unavailableFor(3);
    const id = randomUUID();
    const imp = await c.importDecisions(campaignId, [
      { decisionId: id, armKey: "a", propensity: 0.5, decidedAt: new Date(Date.now() - 3_600_000).toISOString() },
    ]);
    expect(imp).toMatchObject({ accepted: 1, duplicates: 0, rejected: 0 });
    expect(retries.filter((r) => r.status === 503)).toHaveLength(6);
  });

  it("more 503s than retries: the error says unavailable, with the server's Retry-After", async () => {
    const { client: c } = recording({ retries: 2 });
    unavailableFor(3);
    const e = await failure(c.decide(campaignId));
    expect(e).toMatchObject({ code: "unavailable", status: 503, retryAfterMs: 1000 });
  });

  it("the CLI's imports ride out 503s: every row counted once, every decision and event stored once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "adbandit-retry-"));
    try {
      const env = { ADBANDIT_URL: s.url, ADBANDIT_API_KEY: apiKey };
      const t0 = Date.now() - 2 * 86_400_000;
      const ids = Array.from({ length: 3000 }, (_, i) => `60000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
      const decisions = join(dir, "d.csv");
      writeFileSync(
        decisions,
        `decision_id,arm_key,propensity,decided_at\n${ids.map((id, i) => `${id},${"abc"[i % 3]},0.5,${new Date(t0 + i * 1000).toISOString()}`).join("\n")}\n`,
      );
      const events = join(dir, "e.csv");
      writeFileSync(
        events,
        `id,decision_id,type,occurred_at\n${ids.map((id, i) => `r-${i},${id},impression,${new Date(t0 + i * 1000 + 5000).toISOString()}`).join("\n")}\n`,
      );
      const before = (await logged(s.client(apiKey), campaignId)).length;
      for (const [kind, file, extra] of [
        ["decisions", decisions, ["--campaign", campaignId]],
        ["events", events, []],
      ] as const) {
        const refused = unavailableFor(3);
        const r = await cli(["import", kind, file, "--batch", "500", "--concurrency", "1", "--json", ...extra], env);
        expect(r.code, r.err).toBe(0);
        expect(refused()).toBe(3);
        expect(r.json()).toMatchObject({ rows: 3000, accepted: 3000, duplicates: 0, rejected: 0, recovered: 0 });
      }
      expect((await logged(s.client(apiKey), campaignId)).length).toBe(before + 3000);
      const report = await s.client(apiKey).reports.campaign(campaignId, {
        from: new Date(t0 - 3_600_000).toISOString(),
        source: "direct",
      });
      expect(report.total.campaign.impressions).toBe(3000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the CLI exits 5 when the service stays unavailable", async () => {
    unavailableFor(4);
    const r = await cli(["campaigns", "show", campaignId], { ADBANDIT_URL: s.url, ADBANDIT_API_KEY: apiKey });
    expect(r.code).toBe(EXIT.unavailable);
    expect(r.err).toContain("database unavailable");
  });
});

describe("an answer lost after the service acted", () => {
  /** Forwards the request to the service, then loses the first answer on `path`. */
  function losing(pathEnd: string) {
    let lost = 0;
    const fetchFn = async (req: Request) => {
      const res = await fetch(req);
      if (lost === 0 && new URL(req.url).pathname.endsWith(pathEnd)) {
        lost++;
        await res.body?.cancel();
        throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      }
      return res;
    };
    return fetchFn;
  }

  it("a decision is not sent again: one decision logged, the caller hears `network`", async () => {
    const { client: c, retries } = recording({ fetch: losing("/decisions") });
    const before = (await logged(c, campaignId)).length;
    const e = await failure(c.decide(campaignId, { unitId: "lost" }));
    expect(e.code).toBe("network");
    expect(retries).toEqual([]);
    expect((await logged(c, campaignId)).length).toBe(before + 1);
  });

  it("events and decision imports are sent again and stored once (the retry answers duplicate)", async () => {
    const d = await s.client(apiKey).decide(campaignId);
    const ev = recording({ fetch: losing("/v1/events") });
    const r = await ev.client.sendEvents([{ id: `lost-${d.decisionId}`, decisionId: d.decisionId, type: "click" }]);
    expect(ev.retries.map((x) => x.error?.code)).toEqual(["network"]);
    expect(r.results[0].status).toBe("duplicate");
    const report = await s.client(apiKey).reports.campaign(campaignId);
    expect(report.total.campaign.clicks).toBe(2); // the one after the 503s, and this one

    const imp = recording({ fetch: losing("/decisions/import") });
    const id = randomUUID();
    const before = (await logged(imp.client, campaignId)).length;
    const res = await imp.client.importDecisions(campaignId, [
      { decisionId: id, armKey: "b", propensity: 0.25, decidedAt: new Date(Date.now() - 7_200_000).toISOString() },
    ]);
    expect(imp.retries).toHaveLength(1);
    expect(res.results[0]).toEqual({ decisionId: id, status: "duplicate" });
    const after = await logged(imp.client, campaignId);
    expect(after.length).toBe(before + 1);
    expect(after.filter((x) => x === id)).toHaveLength(1);
  });
});
