/**
 * The decision log's commit statement on its own (`npm run bench:commit`): on a fresh PostgreSQL
 * database (migrated as the service does), one connection writes group commits of B decisions — the
 * statement `insertDecisionsWithStats` sends, with its arm_stats, hour-bucket and spend increments —
 * one after another, and prints per commit the wall time and the database backend's CPU time (Linux
 * /proc of the connection's backend), per decision. Sequential on one connection, so the figures are the
 * statement's own cost, not the contention of a loaded server: the part of `bench:http`'s database CPU
 * per decision that a change to the statement or the schema moves.
 *
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_COMMITS (default
 * 2000), BENCH_BATCHES (batch sizes, default "8,32,128").
 */
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { sql } from "drizzle-orm";
import { hourOf } from "../src/engine/buckets.ts";
import { trialIncrement } from "../src/engine/stats.ts";
import { openDatabase } from "../src/store/db.ts";
import { insertDecisionsWithStats, type DecisionRow } from "../src/store/decisions.ts";
import type { SpendIncrement } from "../src/store/spend.ts";
import { createDatabase } from "../test/helpers/db.ts";
import { cpuSeconds } from "./proc.ts";

const COMMITS = Number(process.env.BENCH_COMMITS ?? 2000);
const BATCHES = (process.env.BENCH_BATCHES ?? "8,32,128").split(",").map(Number);
const ARMS = 10;

async function main(): Promise<void> {
  const base = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const target = await createDatabase(base, "adbandit_bench_");
  const database = await openDatabase({ databaseUrl: target.url, poolSize: 1, logPoolSize: 1 });
  // the set-up on the main pool; the commits on the decision log's own, as the service runs them
  const { db, logDb } = database;
  try {
    const workspaceId = randomUUID();
    const campaignId = randomUUID();
    await db.execute(sql`insert into workspaces (id, name) values (${workspaceId}, 'bench')`);
    await db.execute(sql`insert into campaigns (id, workspace_id, name, kind, objective, strategy)
      values (${campaignId}, ${workspaceId}, 'bench', 'creative', 'conversions', '{"type":"thompson"}'::jsonb)`);
    for (let a = 0; a < ARMS; a++)
      await db.execute(
        sql`insert into arms (campaign_id, key, name, position) values (${campaignId}, ${`a${a}`}, ${`arm ${a}`}, ${a})`,
      );
    const [{ pid }] = (await logDb.execute(sql`select pg_backend_pid() as pid`)) as unknown as { pid: number }[];

    const commit = async (size: number, seq: number) => {
      const now = Date.now();
      const rows: DecisionRow[] = [];
      for (let i = 0; i < size; i++) {
        const arm = `a${(seq * size + i) % ARMS}`;
        rows.push({
          id: randomUUID(),
          workspaceId,
          campaignId,
          armKey: arm,
          propensity: 0.1,
          served: true,
          reason: null,
          context: null,
          unitId: null,
          unitHash: `u${i}`,
          timezone: null,
          position: null,
          strategyVersion: 1,
          createdAt: new Date(now),
          reward: 0,
          converted: false,
        });
      }
      const incs = rows.map((r) => trialIncrement({ campaignId, armKey: r.armKey! }, 0));
      const spend: SpendIncrement[] = rows.map((r) => ({
        campaignId,
        armKey: r.armKey!,
        day: new Date(now).toISOString().slice(0, 10),
        hour: hourOf(now),
        requests: 1,
        served: 1,
        decisionCost: 0,
        eventCost: 0,
        conversions: 0,
        revenue: 0,
      }));
      await insertDecisionsWithStats(
        logDb,
        rows,
        incs,
        rows.map((r, i) => ({ campaignId, armKey: r.armKey!, hour: hourOf(now), trials: incs[i] })),
        spend,
      );
    };

    console.log(
      `\nadbandit commit benchmark — one connection, ${COMMITS} commits per size, load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}\n`,
    );
    console.log("batch  commits/s  wall µs/decision  database CPU µs/decision");
    for (const size of BATCHES) {
      for (let i = 0; i < 50; i++) await commit(size, i); // warm-up: plans, caches
      const cpu0 = cpuSeconds(pid);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < COMMITS; i++) await commit(size, i);
      const wall = Number(process.hrtime.bigint() - t0) / 1e3;
      const cpu = (cpuSeconds(pid) - cpu0) * 1e6;
      const n = COMMITS * size;
      console.log(
        `${String(size).padStart(5)}  ${(COMMITS / (wall / 1e6)).toFixed(0).padStart(9)}  ${(wall / n)
          .toFixed(1)
          .padStart(16)}  ${(cpu / n).toFixed(1).padStart(24)}`,
      );
      console.log(
        JSON.stringify({
          bench: "commit",
          batch: size,
          wall_us_per_decision: wall / n,
          db_cpu_us_per_decision: cpu / n,
        }),
      );
    }
  } finally {
    await database.close();
    await target.drop();
  }
}

await main();
