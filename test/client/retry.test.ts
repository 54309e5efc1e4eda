/**
 * Transport behaviour against a scripted server: retries on 503/429 honouring Retry-After, backoff,
 * what is (events, reads) and is not (decisions) retried after a lost connection or a timeout, and event
 * conflicts per the agreed contract (fake server until the engine's per-event statuses are on main).
 */
import { afterEach, describe, expect, it } from "vitest";
import { AdbanditClient, type ClientOptions, type EventBuffer } from "../../src/client/index.ts";
import { freePort } from "../helpers/process.ts";
import { type Fake, failure, rateLimited, startFake, unavailable } from "./fake.ts";

const CAMPAIGN = "5b0c8c9e-3f7e-4d5b-9a51-0c7b0a1f7d2e";
const decision = {
  decisionId: "0f8e2a52-8a4d-4c8e-9a4e-2b8f1f0c9d11",
  campaignId: CAMPAIGN,
  arm: { key: "a", name: null, metadata: {} },
  propensity: 0.5,
};
const eventsOk = { accepted: 1, duplicates: 0, rejected: 0, conflicts: 0, results: [{ id: "e1", status: "accepted" }] };
const event = { id: "e1", decisionId: decision.decisionId, type: "click" as const };

let fake: Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A client whose sleeps are recorded, not waited for; jitter fixed at one half. */
function clientOn(url: string, options: Partial<ClientOptions> = {}) {
  const sleeps: number[] = [];
  const client = new AdbanditClient({
    baseUrl: url,
    apiKey: "k",
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    backoffMs: 100,
    ...options,
  });
  return { client, sleeps };
}

describe("retries on 503 and 429", () => {
  it("503 with Retry-After: waits what the server says, then succeeds", async () => {
    fake = await startFake();
    fake.script("POST /v1/events", unavailable("1"), unavailable("2"), { status: 200, body: eventsOk });
    const { client, sleeps } = clientOn(fake.url);
    expect((await client.sendEvents([event])).accepted).toBe(1);
    expect(sleeps).toEqual([1000, 2000]);
    expect(fake.seen.map((s) => JSON.parse(s.body).events[0].id)).toEqual(["e1", "e1", "e1"]);
  });

  it("a decision refused with 429 or 503 is sent again (the server did not make it)", async () => {
    fake = await startFake();
    fake.script(`POST /v1/campaigns/${CAMPAIGN}/decisions`, rateLimited("3"), unavailable(), {
      status: 201,
      body: decision,
    });
    const { client, sleeps } = clientOn(fake.url);
    expect((await client.decide(CAMPAIGN, { unitId: "u" })).decisionId).toBe(decision.decisionId);
    // 3 s from Retry-After, then backoff 100·2¹ ms × jitter ½.
    expect(sleeps).toEqual([3000, 100]);
    expect(fake.seen).toHaveLength(3);
  });

  it("without Retry-After: exponential backoff with jitter, then the error with the server's code", async () => {
    fake = await startFake(() => unavailable());
    const { client, sleeps } = clientOn(fake.url, { retries: 3 });
    const e = await failure(client.campaigns.list());
    expect(e).toMatchObject({ code: "unavailable", status: 503, message: "database unavailable" });
    expect(e.retryable).toBe(true);
    expect(sleeps).toEqual([50, 100, 200]);
    expect(fake.seen).toHaveLength(4);
  });

  it("backoff is capped by maxBackoffMs", async () => {
    fake = await startFake(() => unavailable());
    const { client, sleeps } = clientOn(fake.url, { retries: 5, maxBackoffMs: 300, random: () => 1 - 1e-9 });
    await failure(client.campaigns.list());
    expect(sleeps.map(Math.round)).toEqual([100, 200, 300, 300, 300]);
  });

  it("a Retry-After longer than maxRetryAfterMs is not waited for: the error says when to come back", async () => {
    fake = await startFake(() => rateLimited("120"));
    const { client, sleeps } = clientOn(fake.url);
    const e = await failure(client.sendEvents([event]));
    expect(e).toMatchObject({ code: "rate_limited", status: 429, retryAfterMs: 120_000 });
    expect(sleeps).toEqual([]);
  });

  it("Retry-After as an HTTP date", async () => {
    fake = await startFake();
    const at = new Date(Date.now() + 5_000).toUTCString();
    fake.script("GET /v1/campaigns", unavailable(at), { status: 200, body: { campaigns: [] } });
    const { client, sleeps } = clientOn(fake.url);
    expect(await client.campaigns.list()).toEqual([]);
    expect(sleeps[0]).toBeGreaterThan(3_000);
    expect(sleeps[0]).toBeLessThanOrEqual(5_000);
  });

  it("other errors are not retried", async () => {
    fake = await startFake(() => ({
      status: 400,
      body: {
        error: {
          code: "invalid_request",
          message: "name: Too small",
          details: [{ path: "name", message: "Too small" }],
        },
      },
    }));
    const { client, sleeps } = clientOn(fake.url);
    const e = await failure(client.campaigns.update(CAMPAIGN, { name: "" }));
    expect(e).toMatchObject({
      code: "invalid_request",
      status: 400,
      field: "name",
      details: [{ path: "name", message: "Too small" }],
    });
    expect([sleeps.length, fake.seen.length]).toEqual([0, 1]);
  });
});

describe("lost connections and timeouts", () => {
  it("events are sent again after a dropped connection (idempotent by id)", async () => {
    fake = await startFake();
    fake.script("POST /v1/events", "drop", { status: 200, body: eventsOk });
    const { client } = clientOn(fake.url);
    expect((await client.sendEvents([event])).accepted).toBe(1);
    expect(fake.seen).toHaveLength(2);
  });

  it("a decision is not sent again after a dropped connection: it may have been logged", async () => {
    fake = await startFake();
    fake.script(`POST /v1/campaigns/${CAMPAIGN}/decisions`, "drop", { status: 201, body: decision });
    const { client, sleeps } = clientOn(fake.url);
    const e = await failure(client.decide(CAMPAIGN));
    expect([e.code, e.status]).toEqual(["network", 0]);
    expect([fake.seen.length, sleeps.length]).toEqual([1, 0]);
    fake.script("POST /v1/decisions/batch", "drop");
    expect((await failure(client.decideBatch([{ campaignId: CAMPAIGN }]))).code).toBe("network");
    expect(fake.seen).toHaveLength(2);
  });

  it("timeouts: a decision answers `timeout` once; a read is tried again", async () => {
    fake = await startFake();
    fake.script(`POST /v1/campaigns/${CAMPAIGN}/decisions`, "hang");
    fake.script("GET /v1/campaigns", "hang", { status: 200, body: { campaigns: [] } });
    const { client } = clientOn(fake.url, { timeoutMs: 150 });
    const e = await failure(client.decide(CAMPAIGN));
    expect(e.code).toBe("timeout");
    expect(fake.seen).toHaveLength(1);
    expect(await client.campaigns.list()).toEqual([]);
    expect(fake.seen).toHaveLength(3);
  });

  it("a refused connection (nothing was sent) is retried even for a decision", async () => {
    const port = await freePort();
    const { client, sleeps } = clientOn(`http://127.0.0.1:${port}`, { retries: 2 });
    const e = await failure(client.decide(CAMPAIGN));
    expect(e.code).toBe("network");
    expect(e.message).toContain("ECONNREFUSED");
    expect(sleeps).toHaveLength(2);
  });
});

describe("event results (contract: conflict status, invalid flag)", () => {
  it("sendEvents sums conflicts across requests and keeps each result", async () => {
    const answer = (n: number) => ({
      status: 200,
      body: {
        accepted: n - 1,
        duplicates: 0,
        rejected: 0,
        conflicts: 1,
        results: Array.from({ length: n }, (_, i) =>
          i === 0
            ? { id: `x${i}`, status: "conflict" }
            : { id: `x${i}`, status: "accepted", ...(i === 1 ? { invalid: true, reason: "bot" } : {}) },
        ),
      },
    });
    fake = await startFake();
    fake.script("POST /v1/events", answer(1000), answer(5));
    const { client } = clientOn(fake.url);
    const events = Array.from({ length: 1005 }, (_, i) => ({ ...event, id: `x${i}` }));
    const r = await client.sendEvents(events);
    expect([r.accepted, r.conflicts, r.results.length]).toEqual([1003, 2, 1005]);
    expect(r.results[1]).toEqual({ id: "x1", status: "accepted", invalid: true, reason: "bot" });
    expect(fake.seen.map((s) => JSON.parse(s.body).events.length)).toEqual([1000, 5]);
  });
});

describe("event buffer when the service is down", () => {
  it("keeps a failed batch queued and sends it at the next flush; refuses past maxQueue", async () => {
    fake = await startFake();
    fake.script("POST /v1/events", unavailable(), {
      status: 200,
      body: { accepted: 3, duplicates: 0, rejected: 0, conflicts: 0, results: [] },
    });
    const { client } = clientOn(fake.url, { retries: 0 });
    const errors: string[] = [];
    const buf: EventBuffer = client.eventBuffer({
      maxBatch: 10,
      flushIntervalMs: 0,
      maxQueue: 4,
      onError: (e, events) => errors.push(`${e.code}:${events.length}`),
    });
    buf.add({ ...event, id: "b1" }, { ...event, id: "b2" }, { ...event, id: "b3" });
    await expect(buf.flush()).rejects.toMatchObject({ code: "unavailable" });
    expect([buf.pending, errors]).toEqual([3, ["unavailable:3"]]);
    expect(() => buf.add({ ...event, id: "b4" }, { ...event, id: "b5" })).toThrowError(/maxQueue/);
    await buf.close();
    expect([buf.pending, buf.totals.accepted, buf.totals.failedSends]).toEqual([0, 3, 1]);
    expect(
      fake.seen.map((s) =>
        JSON.parse(s.body)
          .events.map((e: { id: string }) => e.id)
          .join(),
      ),
    ).toEqual(["b1,b2,b3", "b1,b2,b3"]);
  });
});
