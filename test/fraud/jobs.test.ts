/**
 * Jobs: the rollup job keeps arm_hourly equal to a direct computation; the fraud-scan job runs the scan;
 * one leader at a time on PostgreSQL (advisory lock), tested when DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import pino from "pino";
import { createCampaign, creativeCampaign, startHarness, type Harness, type Workspace } from "../helpers/service.ts";
import { createDatabase } from "../helpers/db.ts";
import { asLeader, lockKey } from "../../src/jobs/leader.ts";
import { jobsConfigFromEnv, startJobs, startServiceJobs, JOBS_DEFAULTS } from "../../src/jobs/index.ts";
import { directCells, rollupCells } from "../../src/reports/queries.ts";
import { openDatabase } from "../../src/store/db.ts";
import { CachedFraudGate } from "../../src/fraud/gate.ts";

let h: Harness;
let ws: Workspace;
const logger = pino({ level: "silent" });
beforeAll(async () => {
  h = await startHarness({ seed: 3 });
  ws = await h.workspace("jobs");
});
afterAll(async () => {
  await h?.close();
});

describe("jobs", () => {
  it("rollups equal the direct computation after the job runs, also after late events", async () => {
    const id = await createCampaign(ws, creativeCampaign({ objective: "revenue" }));
    const decs = (
      await ws.post("/v1/decisions/batch", { requests: Array.from({ length: 40 }, () => ({ campaignId: id })) })
    ).body.decisions;
    const now = Date.now();
    let k = 0;
    const evs = decs.flatMap((d: { decisionId: string }, i: number) => [
      { id: `j-${id}-${k++}`, decisionId: d.decisionId, type: "impression", cost: 0.01 },
      ...(i % 3 === 0
        ? [
            {
              id: `j-${id}-${k++}`,
              decisionId: d.decisionId,
              type: "conversion",
              value: 10 + i,
              occurredAt: new Date(now + 3_600_000).toISOString(),
            },
          ]
        : []),
    ]);
    await ws.post("/v1/events", { events: evs });
    const jobs = startJobs(
      { database: h.service.deps.database, engine: h.service.deps.engine, logger },
      { ...JOBS_DEFAULTS, fraudScan: false, rollups: false, gateRefresh: false },
    );
    await jobs.run("rollups");
    const range = [now - 2 * 3_600_000, now + 3 * 3_600_000] as const;
    const db = h.service.deps.db;
    expect(await rollupCells(db, id, ...range)).toEqual(await directCells(db, id, ...range));
    // a late event: the next run picks it up
    await ws.post("/v1/events", {
      events: [{ id: `j-${id}-late`, decisionId: decs[1].decisionId, type: "conversion", value: 99 }],
    });
    await jobs.run("rollups");
    const after = await rollupCells(db, id, ...range);
    expect(after).toEqual(await directCells(db, id, ...range));
    expect(after.reduce((s, c) => s + c.revenue, 0)).toBeGreaterThan(99);
    await jobs.run("fraud-scan");
    await jobs.stop();
  });

  it("gate-refresh loads the blocklist into the gate", async () => {
    const gate = new CachedFraudGate();
    await h.service.deps.db.execute(
      sql`insert into blocklist (workspace_id, entity_type, entity) values (${ws.id}::uuid, 'ip', '203.0.113.99')`,
    );
    const jobs = startJobs(
      { database: h.service.deps.database, gate, logger },
      { ...JOBS_DEFAULTS, fraudScan: false, rollups: false, gateRefresh: false },
    );
    expect(gate.isBlocked(ws.id, "ip", "203.0.113.99")).toBe(false);
    await jobs.run("gate-refresh");
    expect(gate.isBlocked(ws.id, "ip", "203.0.113.99")).toBe(true);
    await jobs.stop();
  });

  it("startServiceJobs wires the service's deps and loads the gate at once", async () => {
    const gate = new CachedFraudGate();
    const jobs = startServiceJobs(h.service.deps, gate, {
      ...JOBS_DEFAULTS,
      fraudScan: false,
      rollups: false,
      gateRefresh: false,
    });
    await jobs.run("gate-refresh"); // joins the run started by startServiceJobs
    expect(gate.isBlocked(ws.id, "ip", "203.0.113.99")).toBe(true);
    await jobs.stop();
  });

  it("schedules come from the environment, with validation", () => {
    expect(jobsConfigFromEnv({ ADBANDIT_JOB_FRAUD_SCAN: "*/5 * * * *", ADBANDIT_JOB_ROLLUPS: "off" })).toMatchObject({
      fraudScan: "*/5 * * * *",
      rollups: false,
      gateRefresh: "* * * * *",
      fraudRatesEveryMinutes: 10,
    });
    expect(jobsConfigFromEnv({ ADBANDIT_JOB_FRAUD_RATES_MINUTES: "30" }).fraudRatesEveryMinutes).toBe(30);
    expect(() => jobsConfigFromEnv({ ADBANDIT_JOB_FRAUD_RATES_MINUTES: "0" })).toThrow(/RATES_MINUTES/);
    expect(() => jobsConfigFromEnv({ ADBANDIT_JOB_ROLLUPS: "every minute" })).toThrow(/ADBANDIT_JOB_ROLLUPS/);
  });

  it("lock keys are stable and distinct per job", () => {
    expect(lockKey("fraud-scan")).toBe(lockKey("fraud-scan"));
    expect(lockKey("fraud-scan")).not.toBe(lockKey("rollups"));
  });

  it.skipIf(!process.env.DATABASE_URL)("PostgreSQL: while one replica holds the job, another skips it", async () => {
    const made = await createDatabase(process.env.DATABASE_URL!);
    const a = await openDatabase({ databaseUrl: made.url, poolSize: 3 });
    const b = await openDatabase({ databaseUrl: made.url, poolSize: 3 });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let started!: () => void;
      const isStarted = new Promise<void>((r) => (started = r));
      const first = asLeader(a, "test-job", async () => {
        started();
        await held;
        return 1;
      });
      await isStarted;
      expect(await asLeader(b, "test-job", async () => 2)).toEqual({ ran: false });
      release();
      expect(await first).toEqual({ ran: true, result: 1 });
      expect(await asLeader(b, "test-job", async () => 2)).toEqual({ ran: true, result: 2 });
    } finally {
      await a.close();
      await b.close();
      await made.drop();
    }
  });
});
