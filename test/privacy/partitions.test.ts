/**
 * Time-partitioned decisions and events (migration 0009, src/privacy/partitions.ts), on PGlite and
 * PostgreSQL: day partitions made ahead, stray rows moved out of the DEFAULT partition, retention by
 * DROP, partition pruning on time predicates, and event idempotency across partitions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { dayPartitions } from "../../src/privacy/partitions.ts";
import { enforceRetention } from "../../src/privacy/retention.ts";
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
const db = () => h.service.deps.db;
const q = <T = Record<string, unknown>>(s: ReturnType<typeof sql>) => rows<T>(db(), s);
const today = () => Math.floor(Date.now() / DAY) * DAY;
const name = (table: string, day: number) =>
  `${table}_p${new Date(day).toISOString().slice(0, 10).replaceAll("-", "")}`;

/** Which partition holds the row. */
async function partitionOf(table: "decisions" | "events", where: ReturnType<typeof sql>): Promise<string[]> {
  const r = await q<{ p: string }>(
    sql`select tableoid::regclass::text as p from ${sql.identifier(table)} where ${where}`,
  );
  return r.map((x) => x.p.replaceAll('"', ""));
}

async function oldDecision(daysAgo: number): Promise<string> {
  const t = new Date(Date.now() - daysAgo * DAY).toISOString();
  const [r] = await q<{
    id: string;
  }>(sql`insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, strategy_version, created_at)
    values (gen_random_uuid(), ${ws.id}::uuid, ${cid}::uuid, 'a', 0.5, 1, ${t}::timestamptz) returning id`);
  return r.id;
}

beforeAll(async () => {
  h = await startHarness({ seed: 3 });
  ws = await h.workspace("partitions");
  cid = await createCampaign(ws, creativeCampaign());
});
afterAll(async () => {
  await h?.close();
});

describe("partitioned decisions and events", () => {
  it("both tables are range-partitioned by day, with today's and the next 7 days' partitions and a DEFAULT", async () => {
    const parted = await q<{ t: string; strategy: string }>(
      sql`select c.relname as t, p.partstrat as strategy from pg_partitioned_table p join pg_class c on c.oid = p.partrelid order by 1`,
    );
    expect(parted).toEqual([
      { t: "decisions", strategy: "r" },
      { t: "events", strategy: "r" },
    ]);
    for (const table of ["decisions", "events"] as const) {
      const days = new Set((await dayPartitions(db(), table)).map((p) => p.day));
      for (let k = 0; k <= 7; k++) expect(days.has(today() + k * DAY)).toBe(true);
    }
    const d = await decide(ws, cid, { unitId: "p1" });
    await ws.post("/v1/events", { events: [{ id: eventId(), decisionId: d.body.decisionId, type: "click" }] });
    expect(await partitionOf("decisions", sql`id = ${d.body.decisionId}::uuid`)).toEqual([name("decisions", today())]);
    expect(await partitionOf("events", sql`decision_id = ${d.body.decisionId}::uuid`)).toEqual([
      name("events", today()),
    ]);
  });

  it("a row outside the partitions lands in DEFAULT and the job moves it into its day's new partition", async () => {
    const id = await oldDecision(40);
    expect(await partitionOf("decisions", sql`id = ${id}::uuid`)).toEqual(["decisions_default"]);
    const r = await enforceRetention(db());
    const day = Math.floor((Date.now() - 40 * DAY) / DAY) * DAY;
    expect(r.partitionsMade).toContain(name("decisions", day));
    expect(await partitionOf("decisions", sql`id = ${id}::uuid`)).toEqual([name("decisions", day)]);
    const [n] = await q<{ n: number }>(sql`select count(*)::int as n from decisions_default`);
    expect(Number(n.n)).toBe(0);
  });

  it("queries with a time predicate read only the partitions of that time (pruning)", async () => {
    const lo = new Date(today()).toISOString();
    const hi = new Date(today() + DAY).toISOString();
    const plan = await q<Record<string, string>>(
      sql`explain select count(*) from decisions where campaign_id = ${cid}::uuid and created_at >= ${lo}::timestamptz and created_at < ${hi}::timestamptz`,
    );
    const text = plan.map((p) => Object.values(p)[0]).join("\n");
    expect(text).toContain(name("decisions", today()));
    expect(text).not.toContain(name("decisions", today() + DAY));
    expect(text).not.toContain("decisions_default");
  });

  it("an event resent without occurredAt is a duplicate although it falls in another day's partition", async () => {
    const id = await oldDecision(2);
    const evId = eventId();
    const at = new Date(Date.now() - 2 * DAY + 60_000).toISOString();
    await enforceRetention(db());
    const first = await ws.post("/v1/events", {
      events: [{ id: evId, decisionId: id, type: "click", occurredAt: at }],
    });
    expect(first.body.results[0].status).toBe("accepted");
    const again = await ws.post("/v1/events", { events: [{ id: evId, decisionId: id, type: "click" }] });
    expect(again.body.results[0].status).toBe("duplicate");
    const other = await ws.post("/v1/events", { events: [{ id: evId, decisionId: id, type: "conversion", value: 1 }] });
    expect(other.body.results[0].status).toBe("conflict");
    const [n] = await q<{ n: number }>(sql`select count(*)::int as n from events where event_id = ${evId}`);
    expect(Number(n.n)).toBe(1);
  });

  it("retention drops whole partitions older than the longest period, keeps newer ones", async () => {
    const old = await oldDecision(100);
    const kept = await oldDecision(80);
    const r = await enforceRetention(db());
    const oldDay = Math.floor((Date.now() - 100 * DAY) / DAY) * DAY;
    expect(r.partitionsDropped).toContain(name("decisions", oldDay));
    const left = await q<{ id: string }>(sql`select id from decisions where id in (${old}::uuid, ${kept}::uuid)`);
    expect(left.map((x) => x.id)).toEqual([kept]);
    const days = (await dayPartitions(db(), "decisions")).map((p) => p.day);
    expect(Math.min(...days)).toBeGreaterThan(Date.now() - 91 * DAY);
  });
});
