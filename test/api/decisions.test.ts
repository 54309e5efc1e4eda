/**
 * Decisions: the answer's shape and propensity, contextual decisions, send_time `sendAt` (the next start of
 * the chosen hour in the recipient's IANA time zone after `after`, across DST changes), and the batch
 * endpoint with per-item errors in request order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCampaign,
  creativeCampaign,
  decide,
  expectError,
  expectInvalid,
  startHarness,
  type Harness,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
beforeAll(async () => {
  h = await startHarness({ seed: 99 });
  ws = await h.workspace("decisions");
});
afterAll(async () => {
  await h?.close();
});

const contextual = creativeCampaign({
  strategy: { type: "linucb" },
  contextFeatures: [
    { name: "age", type: "numeric" },
    { name: "device", type: "categorical" },
  ],
});

describe("POST /v1/campaigns/{id}/decisions", () => {
  it("answers 201 with decisionId, campaignId, arm {key, name, metadata} and propensity", async () => {
    const id = await createCampaign(ws);
    const r = await decide(ws, id, { unitId: "user-1" });
    expect(r.status).toBe(201);
    expect(typeof r.body.decisionId).toBe("string");
    expect(r.body.campaignId).toBe(id);
    expect(["a", "b", "c"]).toContain(r.body.arm.key);
    if (r.body.arm.key === "a") {
      expect(r.body.arm).toMatchObject({ name: "Creative A", metadata: { url: "https://example.com/a.png" } });
    }
    expect(r.body.sendAt).toBeUndefined();
  });

  it("at the prior, Thompson sampling over 3 arms logs a propensity of 1/3", async () => {
    // Only the first decision sees the symmetric prior: each decision is a trial (n += 1) when made.
    const id = await createCampaign(ws);
    const r = await decide(ws, id);
    expect(r.body.propensity).toBeGreaterThan(1 / 3 - 0.02);
    expect(r.body.propensity).toBeLessThan(1 / 3 + 0.02);
  });

  it("after unconverted trials on one arm, the others are more likely (propensity follows the posterior)", async () => {
    // A declared delay far below a millisecond: a pending trial counts as a (failed) trial at once.
    const id = await createCampaign(
      ws,
      creativeCampaign({
        arms: [{ key: "a" }, { key: "b" }],
        conversionDelay: { medianHours: 1e-8, p95Hours: 2e-8, learn: false },
      }),
    );
    // Beta(1, 1 + k) vs Beta(1, 1 + m): P(a best) = (1 + m) / (2 + k + m) — check the logged propensity
    let k = 0;
    let m = 0;
    for (let i = 0; i < 12; i++) {
      const r = await decide(ws, id);
      const pa = (1 + m) / (2 + k + m);
      const expected = r.body.arm.key === "a" ? pa : 1 - pa;
      expect(Math.abs(r.body.propensity - expected)).toBeLessThan(0.02);
      if (r.body.arm.key === "a") k += 1;
      else m += 1;
    }
  });

  it("a one-arm campaign decides with propensity 1", async () => {
    const id = await createCampaign(ws, creativeCampaign({ arms: [{ key: "solo" }] }));
    const r = await decide(ws, id);
    expect(r.body.arm.key).toBe("solo");
    expect(r.body.propensity).toBeCloseTo(1, 9);
  });

  it("decision ids are unique", async () => {
    const id = await createCampaign(ws);
    const ids = new Set<string>();
    const answers = await Promise.all(Array.from({ length: 50 }, () => decide(ws, id)));
    for (const a of answers) ids.add(a.body.decisionId);
    expect(ids.size).toBe(50);
  });

  it("a contextual campaign decides from the declared features", async () => {
    const id = await createCampaign(ws, contextual);
    const r = await decide(ws, id, { context: { age: 42, device: "android" } });
    expect(r.status).toBe(201);
    expect(r.body.propensity).toBeGreaterThan(0);
  });

  it("a context with a wrong feature type names the feature", async () => {
    const id = await createCampaign(ws, contextual);
    expectInvalid(await decide(ws, id, { context: { age: "old", device: "android" } }), "age");
  });

  it("an invalid timezone names the field", async () => {
    const id = await createCampaign(ws, {
      name: "t",
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
    });
    expectInvalid(await decide(ws, id, { timezone: "Mars/Olympus_Mons" }), "timezone");
  });

  it("an invalid `after` names the field", async () => {
    const id = await createCampaign(ws, {
      name: "t",
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
    });
    expectInvalid(await decide(ws, id, { after: "yesterday-ish" }), "after");
  });

  it("a paused campaign answers 409", async () => {
    const id = await createCampaign(ws);
    expect((await ws.patch(`/v1/campaigns/${id}`, { status: "paused" })).status).toBe(200);
    expectError(await decide(ws, id), 409);
  });
});

describe("send_time: sendAt is the next start of the chosen hour in the recipient's time zone", () => {
  async function sendAt(arm: string, timezone: string | undefined, after: string): Promise<string> {
    const id = await createCampaign(ws, {
      name: `send ${arm}`,
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: arm }],
    });
    const r = await decide(ws, id, { ...(timezone ? { timezone } : {}), after });
    expect(r.status).toBe(201);
    expect(r.body.arm.key).toBe(arm);
    return new Date(r.body.sendAt).toISOString();
  }

  const cases: Array<[string, string, string | undefined, string, string]> = [
    // label, arm, timezone, after, expected
    ["UTC when no timezone is given", "09", undefined, "2026-06-01T10:00:00Z", "2026-06-02T09:00:00.000Z"],
    ["later the same day", "18", "Europe/Paris", "2026-06-01T10:00:00Z", "2026-06-01T16:00:00.000Z"],
    [
      "half-hour offset, hour already started → next day",
      "09",
      "Asia/Kolkata",
      "2026-06-01T04:00:00Z",
      "2026-06-02T03:30:00.000Z",
    ],
    [
      "New York across the spring-forward change (EST → EDT)",
      "09",
      "America/New_York",
      "2026-03-07T20:00:00Z",
      "2026-03-08T13:00:00.000Z",
    ],
    ["London on the day summer time starts", "09", "Europe/London", "2026-03-28T12:00:00Z", "2026-03-29T08:00:00.000Z"],
    [
      "Sydney on the day summer time ends (AEDT → AEST)",
      "09",
      "Australia/Sydney",
      "2026-04-04T12:00:00Z",
      "2026-04-04T23:00:00.000Z",
    ],
    [
      "New York on the fall-back day: the first 01:00 (EDT) comes first",
      "01",
      "America/New_York",
      "2026-11-01T04:00:00Z",
      "2026-11-01T05:00:00.000Z",
    ],
    [
      "hour of the week: Monday 09 from a Sunday in Berlin",
      "mon-09",
      "Europe/Berlin",
      "2026-11-22T12:00:00Z",
      "2026-11-23T08:00:00.000Z",
    ],
    [
      "hour of the week already passed this week → next week",
      "mon-09",
      "Europe/Berlin",
      "2026-11-23T09:00:00Z",
      "2026-11-30T08:00:00.000Z",
    ],
  ];
  for (const [label, arm, tz, after, expected] of cases) {
    it(label, async () => {
      expect(await sendAt(arm, tz, after)).toBe(expected);
    });
  }

  it("an hour skipped by the spring-forward change gives a real instant after `after` (03:00 EDT that day, or 02:00 the next)", async () => {
    const got = await sendAt("02", "America/New_York", "2026-03-08T05:00:00Z");
    expect(["2026-03-08T07:00:00.000Z", "2026-03-09T06:00:00.000Z"]).toContain(got);
  });

  it("defaults `after` to now: sendAt is within the next week and in the future", async () => {
    const id = await createCampaign(ws, {
      name: "now",
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
    });
    const before = Date.now();
    const r = await decide(ws, id, { timezone: "America/Los_Angeles" });
    const t = Date.parse(r.body.sendAt);
    expect(t).toBeGreaterThan(before - 1000);
    expect(t).toBeLessThanOrEqual(before + 24 * 3600_000 + 1000);
    // the chosen hour, read in the recipient's zone, is the arm's hour
    const hour = new Intl.DateTimeFormat("en-GB", {
      timeZone: "America/Los_Angeles",
      hour: "2-digit",
      hourCycle: "h23",
    }).format(t);
    expect(hour).toBe(r.body.arm.key);
  });
});

describe("POST /v1/decisions/batch", () => {
  it("answers each request in order; a failing one gets an error in its place", async () => {
    const other = await h.workspace("someone-else");
    const foreign = await createCampaign(other);
    const plain = await createCampaign(ws);
    const ctx = await createCampaign(ws, contextual);
    const unknown = "00000000-0000-4000-8000-000000000000";
    const r = await ws.post("/v1/decisions/batch", {
      requests: [
        { campaignId: plain, unitId: "u1" },
        { campaignId: unknown },
        { campaignId: ctx, context: { age: 30, device: "ios" } },
        { campaignId: ctx, context: { age: "thirty" } },
        { campaignId: foreign },
        { campaignId: plain },
      ],
    });
    expect(r.status).toBe(200);
    const ds = r.body.decisions;
    expect(ds).toHaveLength(6);
    expect(ds[0].campaignId).toBe(plain);
    expect(typeof ds[0].decisionId).toBe("string");
    expect(ds[0].error).toBeUndefined();
    expect(ds[1].error).toBeDefined();
    expect(typeof ds[1].error.code).toBe("string");
    expect(ds[2].campaignId).toBe(ctx);
    expect(ds[2].error).toBeUndefined();
    expect(ds[3].error).toBeDefined();
    // a foreign campaign looks exactly like an unknown one
    expect(ds[4].error).toBeDefined();
    expect(ds[4].error.code).toBe(ds[1].error.code);
    expect(ds[5].campaignId).toBe(plain);
    expect(ds[5].decisionId).not.toBe(ds[0].decisionId);
  });

  it("send_time items carry sendAt", async () => {
    const id = await createCampaign(ws, {
      name: "batch send",
      kind: "send_time",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "07" }],
    });
    const r = await ws.post("/v1/decisions/batch", {
      requests: [{ campaignId: id, timezone: "Europe/Paris", after: "2026-06-01T10:00:00Z" }],
    });
    expect(r.status).toBe(200);
    expect(new Date(r.body.decisions[0].sendAt).toISOString()).toBe("2026-06-02T05:00:00.000Z");
  });

  it("accepts 1000 requests and refuses 1001 naming the field", async () => {
    const id = await createCampaign(ws);
    const ok = await ws.post("/v1/decisions/batch", {
      requests: Array.from({ length: 1000 }, () => ({ campaignId: id })),
    });
    expect(ok.status).toBe(200);
    expect(ok.body.decisions).toHaveLength(1000);
    expect(ok.body.decisions.every((d: { decisionId?: string }) => typeof d.decisionId === "string")).toBe(true);
    const tooMany = await ws.post("/v1/decisions/batch", {
      requests: Array.from({ length: 1001 }, () => ({ campaignId: id })),
    });
    expectInvalid(tooMany, "requests");
  });

  it("a missing request list is a 400", async () => {
    expectInvalid(await ws.post("/v1/decisions/batch", {}), "requests");
  });
});
