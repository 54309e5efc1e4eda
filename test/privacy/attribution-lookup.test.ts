/**
 * An event's decision is looked up within the time its decision can have been made (learn.ts
 * `madeWithin`, store/decisions.ts `lockDecisions`), so the day partitions outside it are pruned; the
 * answers stay those of an unbounded lookup (after the window, before the decision, unknown). On PGlite
 * and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { dayPartitions, ensurePartitions } from "../../src/privacy/partitions.ts";
import { decisionsToLock } from "../../src/store/decisions.ts";
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
let cid: string;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const db = () => h.service.deps.db;
const q = <T = Record<string, unknown>>(s: ReturnType<typeof sql>) => rows<T>(db(), s);

async function decisionAt(t: number): Promise<string> {
  const [r] = await q<{ id: string }>(
    sql`insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, strategy_version, created_at)
      values (gen_random_uuid(), ${ws.id}::uuid, ${cid}::uuid, 'a', 0.5, 1, ${new Date(t).toISOString()}::timestamptz) returning id`,
  );
  return r.id;
}

async function send(decisionId: string, occurredAt: number, type = "conversion") {
  const id = eventId();
  const r = await ws.post("/v1/events", {
    events: [{ id, decisionId, type, value: 1, occurredAt: new Date(occurredAt).toISOString() }],
  });
  expect(r.status).toBe(200);
  const [stored] = await q<{ attributed: boolean }>(sql`select attributed from events where event_id = ${id}`);
  return { result: r.body.results[0], attributed: stored?.attributed };
}

beforeAll(async () => {
  h = await startHarness({ seed: 5 });
  ws = await h.workspace("attribution-lookup");
  cid = await createCampaign(ws, creativeCampaign({ attributionWindowHours: 24 }));
  // 40 days of partitions behind today, as a service that has run for a while has
  await ensurePartitions(db(), "decisions", Date.now() - 40 * DAY, Date.now());
});
afterAll(async () => {
  await h?.close();
});

describe("attribution lookup bounded by time", () => {
  it("the bounded lookup's plan reads fewer day partitions than exist", async () => {
    const now = Date.now();
    const all = await dayPartitions(db(), "decisions");
    expect(all.length).toBeGreaterThanOrEqual(48);
    const ids = ["00000000-0000-4000-8000-000000000001"];
    const within = { from: new Date(now - 24 * HOUR - 300_000), to: new Date(now + 300_000) };
    const plan = async (w?: typeof within) => {
      const got = await q<Record<string, string>>(sql`explain ${decisionsToLock(ws.id, ids, w)}`);
      const text = got.map((p) => Object.values(p)[0]).join("\n");
      return new Set(text.match(/decisions_(p\d{8}|default)/g) ?? []);
    };
    const bounded = await plan(within);
    const unbounded = await plan();
    expect(unbounded.size).toBe(all.length + 1); // every day partition and the DEFAULT
    expect(bounded.size).toBeGreaterThanOrEqual(1);
    expect(bounded.size).toBeLessThanOrEqual(2); // today's, and yesterday's when the window crosses midnight
    for (const p of bounded) expect(p).toMatch(/^decisions_p\d{8}$/);
  });

  it("an event within its window is attributed and moves its decision's reward", async () => {
    const d = await decide(ws, cid, {});
    expect(d.status).toBe(201);
    const id = d.body.decisionId as string;
    const got = await send(id, Date.now());
    expect(got.result.status).toBe("accepted");
    expect(got.attributed).toBe(true);
    const [r] = await q<{ reward: number; converted: boolean }>(
      sql`select reward, converted from decisions where id = ${id}::uuid`,
    );
    expect(Number(r.reward)).toBe(1);
    expect(r.converted).toBe(true);
  });

  it("an event long after its window is still found: accepted, not attributed (as without the bound)", async () => {
    const id = await decisionAt(Date.now() - 30 * DAY);
    const got = await send(id, Date.now());
    expect(got.result.status).toBe("accepted");
    expect(got.attributed).toBe(false);
    const [r] = await q<{ reward: number }>(sql`select reward from decisions where id = ${id}::uuid`);
    expect(Number(r.reward)).toBe(0);
  });

  it("an event dated well before its decision is still rejected as occurred_before_decision", async () => {
    const id = await decisionAt(Date.now());
    const got = await send(id, Date.now() - 3 * HOUR);
    expect(got.result).toMatchObject({ status: "rejected", reason: "occurred_before_decision" });
  });

  it("an unknown decision is still unknown_decision", async () => {
    const got = await send("00000000-0000-4000-8000-0000000000ff", Date.now());
    expect(got.result).toMatchObject({ status: "rejected", reason: "unknown_decision" });
  });
});
