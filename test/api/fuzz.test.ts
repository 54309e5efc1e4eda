/**
 * "Never a 500 for anything a client sent": property tests (fast-check, seeded) that throw arbitrary JSON at
 * every write endpoint — whole bodies, and valid bodies with one field replaced by an arbitrary value — and
 * malformed payloads (non-JSON, wrong content type). Every answer must be < 500 and, when an error, in the
 * common error shape. Strings are drawn from every code point (U+0000 and lone surrogates included) half
 * of the time. Alongside each fuzzed request a victim workspace asks for a decision in the same group
 * commit: it must always succeed. By default ≥ 10,000 bodies (FUZZ_RUNS=500 per property).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCampaign,
  creativeCampaign,
  decide,
  startHarness,
  type Harness,
  type Reply,
  type Workspace,
} from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
let campaign: string;
let sendTime: string;
let decisionId: string;
let victim: Workspace;
let victimCampaign: string;
let bodies = 0;
beforeAll(async () => {
  h = await startHarness({ seed: 17 });
  ws = await h.workspace("fuzz");
  victim = await h.workspace("victim");
  victimCampaign = await createCampaign(victim);
  campaign = await createCampaign(
    ws,
    creativeCampaign({
      strategy: { type: "lin_ts" },
      contextFeatures: [
        { name: "age", type: "numeric" },
        { name: "device", type: "categorical" },
      ],
    }),
  );
  sendTime = await createCampaign(ws, {
    name: "st",
    kind: "send_time",
    objective: "revenue",
    strategy: { type: "thompson" },
  });
  decisionId = (await decide(ws, campaign, { context: { age: 3, device: "x" } })).body.decisionId;
});
afterAll(async () => {
  await h?.close();
});

const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const json = (maxDepth: number) =>
  fc.oneof(fc.jsonValue({ maxDepth }), fc.jsonValue({ maxDepth, stringUnit: "binary" }));

/**
 * The fuzzed call; every 5th with a victim's decision sent at the same time (so both join the same
 * commit), which must succeed.
 */
async function fuzzCall(method: string, path: string, body: unknown): Promise<Reply> {
  bodies++;
  if (bodies % 5 !== 0) return ws.call(method, path, { body });
  const [r, v] = await Promise.all([
    ws.call(method, path, { body }),
    victim.post(`/v1/campaigns/${victimCampaign}/decisions`, {}),
  ]);
  if (v.status !== 201) throw new Error(`victim decision answered ${v.status}: ${v.text.slice(0, 200)}`);
  return r;
}

/** Property tests of 500 runs take minutes on a loaded 2-core machine. */
const LONG = { timeout: 900_000 };
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

function expectClientAnswer(r: Reply, what: string): void {
  if (r.status >= 500) throw new Error(`${what} answered ${r.status}: ${r.text.slice(0, 300)}`);
  if (r.status >= 400) {
    expect(typeof r.body?.error?.code, `${what}: ${r.text.slice(0, 200)}`).toBe("string");
  }
}

const targets = (): Array<{ method: string; path: string; valid: Record<string, unknown> }> => [
  { method: "POST", path: "/v1/campaigns", valid: creativeCampaign() },
  {
    method: "PATCH",
    path: `/v1/campaigns/${campaign}`,
    valid: { name: "n", explorationFloor: 0.01, attributionWindowHours: 24, strategy: { alpha: 1 } },
  },
  { method: "POST", path: `/v1/campaigns/${campaign}/arms`, valid: { key: "k", name: "n", cost: 1, metadata: {} } },
  { method: "PATCH", path: `/v1/campaigns/${campaign}/arms/a`, valid: { status: "active" } },
  {
    method: "POST",
    path: `/v1/campaigns/${campaign}/decisions`,
    valid: { unitId: "u", context: { age: 1, device: "ios" } },
  },
  {
    method: "POST",
    path: `/v1/campaigns/${sendTime}/decisions`,
    valid: { timezone: "Europe/Paris", after: "2026-06-01T10:00:00Z" },
  },
  {
    method: "POST",
    path: "/v1/decisions/batch",
    valid: { requests: [{ campaignId: campaign, context: { age: 2, device: "web" } }] },
  },
  {
    method: "POST",
    path: "/v1/events",
    valid: {
      events: [
        {
          id: "e",
          decisionId,
          type: "conversion",
          value: 1,
          cost: 0,
          occurredAt: "2026-06-01T10:00:00Z",
          source: { ip: "1.2.3.4" },
        },
      ],
    },
  },
];

const LABELS = [
  "POST /v1/campaigns",
  "PATCH /v1/campaigns/{id}",
  "POST /v1/campaigns/{id}/arms",
  "PATCH /v1/campaigns/{id}/arms/{key}",
  "POST /v1/campaigns/{id}/decisions (contextual)",
  "POST /v1/campaigns/{id}/decisions (send_time)",
  "POST /v1/decisions/batch",
  "POST /v1/events",
];

describe("never a 500 for anything a client sent", () => {
  LABELS.forEach((label, i) => {
    it(`${label}: arbitrary JSON bodies`, LONG, async () => {
      const t = targets()[i];
      await fc.assert(
        fc.asyncProperty(json(4), async (body) => {
          expectClientAnswer(await fuzzCall(t.method, t.path, body), label);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    });

    it(`${label}: a valid body with one field replaced by anything`, LONG, async () => {
      const t = targets()[i];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...Object.keys(t.valid)), json(3), async (field, value) => {
          const body = { ...t.valid, [field]: value };
          expectClientAnswer(
            await fuzzCall(t.method, t.path, body),
            `${label} with ${field}=${JSON.stringify(value)?.slice(0, 80)}`,
          );
        }),
        { numRuns: RUNS, seed: SEED },
      );
    });
  });

  it("a valid item with one nested field replaced by anything (events, batch decisions)", LONG, async () => {
    const event = {
      id: "e",
      decisionId,
      type: "click",
      value: 1,
      cost: 0,
      occurredAt: "2026-06-01T10:00:00Z",
      source: { ip: "1.2.3.4" },
    };
    const request = { campaignId: sendTime, unitId: "u", context: {}, timezone: "UTC", after: "2026-06-01T10:00:00Z" };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(event)),
        fc.constantFrom(...Object.keys(request)),
        json(3),
        fc.string(),
        async (ef, rf, value, id) => {
          expectClientAnswer(
            await fuzzCall("POST", "/v1/events", { events: [{ ...event, id: `f-${id}`, [ef]: value }] }),
            `event ${ef}`,
          );
          expectClientAnswer(
            await fuzzCall("POST", "/v1/decisions/batch", { requests: [{ ...request, [rf]: value }] }),
            `batch ${rf}`,
          );
        },
      ),
      { numRuns: RUNS * 2, seed: SEED },
    );
  });

  it("malformed payloads: not JSON, wrong content type, empty body", async () => {
    for (const t of targets()) {
      for (const [raw, headers] of [
        ["{", {}],
        ["", {}],
        ["null", {}],
        ['"string"', {}],
        ["\u0000\u0001", {}],
        ["name=x", { "content-type": "application/x-www-form-urlencoded" }],
        [JSON.stringify(t.valid), { "content-type": "text/plain" }],
      ] as Array<[string, Record<string, string>]>) {
        expectClientAnswer(
          await ws.call(t.method, t.path, { raw, headers }),
          `${t.method} ${t.path} raw ${JSON.stringify(raw)}`,
        );
      }
    }
  });

  it.runIf(RUNS >= 500)("sent at least 10,000 fuzzed bodies, and the service still answers", async () => {
    expect(bodies).toBeGreaterThanOrEqual(10_000);
    expect((await victim.post(`/v1/campaigns/${victimCampaign}/decisions`, {})).status).toBe(201);
  });

  it("odd path parameters and query strings", async () => {
    for (const p of [
      "/v1/campaigns/%00",
      "/v1/campaigns/' or 1=1 --",
      `/v1/campaigns/${"9".repeat(500)}`,
      `/v1/campaigns/${campaign}/arms/${encodeURIComponent("ä/../../x")}`,
      `/v1/campaigns/${campaign}/decisions/export?from=notadate&format=jsonl`,
      `/v1/campaigns/${campaign}/decisions/export?to=2026-13-45T99:00:00Z`,
    ]) {
      expectClientAnswer(await ws.call("GET", p.replace(/ /g, "%20")), `GET ${p}`);
      expectClientAnswer(await ws.call("PATCH", p.replace(/ /g, "%20"), { body: { status: "paused" } }), `PATCH ${p}`);
    }
  });
});
