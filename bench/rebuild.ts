/**
 * The exact rebuild of one large campaign (`npm run bench:rebuild`): on a fresh PostgreSQL database
 * (migrated as the service does, opened with the service's connection settings — 10 s statement timeout),
 * one campaign gets N served decisions over the last two days and one teaching event each (every tenth a
 * conversion), inserted set-based (generate_series, not through the API) with running rewards that agree
 * with the events. Then `recomputeArmStats` runs twice: the first repairs the totals, buckets and delay
 * cohorts left empty by the seeding; the second is the consistency job's steady state (nothing to repair).
 * Printed per run: wall time, rows read per second (decisions + events), and the process's peak RSS and
 * heap (sampled every 10 ms; RSS also the kernel's high-water mark).
 *
 * Each N runs in a child process of its own, so a peak is that N's alone and a failure (out of memory,
 * statement timeout) is reported and the next N still runs. The database is dropped at the end.
 *
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_N (default
 * "100000,1000000"), BENCH_CHUNK (rows per FETCH, default the rebuild's).
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { recomputeArmStats, type RecomputeResult } from "../src/engine/recompute.ts";
import { openDatabase, type Db } from "../src/store/db.ts";
import { createDatabase } from "../test/helpers/db.ts";

const ARMS = 10;
const MB = 1024 * 1024;

export async function seed(db: Db, n: number): Promise<string> {
  const workspaceId = randomUUID();
  const campaignId = randomUUID();
  await db.execute(sql`insert into workspaces (id, name) values (${workspaceId}, 'bench')`);
  await db.execute(sql`insert into campaigns (id, workspace_id, name, kind, objective, strategy)
    values (${campaignId}, ${workspaceId}, 'bench', 'creative', 'conversions', '{"type":"thompson"}'::jsonb)`);
  await db.execute(sql`insert into arms (campaign_id, key, name, position)
    select ${campaignId}, 'a' || a, 'arm ' || a, a from generate_series(0, ${ARMS - 1}) a`);
  // decision i: arm i mod ARMS, made between 49 h and 1 h ago; converted (reward 1) when i mod 10 = 0
  await db.execute(sql`insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, served, context,
      strategy_version, created_at, reward, converted)
    select md5('d' || i)::uuid, ${workspaceId}, ${campaignId}, 'a' || (i % ${ARMS}), 0.1, true,
      jsonb_build_object('country', 'DE', 'device', 'mobile', 'segment', i % 7), 1,
      now() - interval '1 hour' - (i * interval '48 hours') / ${n}, (i % 10 = 0)::int, i % 10 = 0
    from generate_series(0, ${n - 1}) i`);
  await db.execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value,
      cost, occurred_at, received_at, attributed)
    select ${workspaceId}, 'e' || i, md5('d' || i)::uuid, ${campaignId}, 'a' || (i % ${ARMS}),
      case when i % 10 = 0 then 'conversion' else 'click' end, case when i % 10 = 0 then 5 else 0 end, 0,
      t + interval '30 minutes', t + interval '30 minutes 1 second', true
    from generate_series(0, ${n - 1}) i,
      lateral (select now() - interval '1 hour' - (i * interval '48 hours') / ${n} as t) as d`);
  await db.execute(sql`analyze`);
  return campaignId;
}

/** Peak RSS and heap while `fn` runs, sampled every 10 ms (the event loop is free between FETCHes). */
async function measured<T>(fn: () => Promise<T>) {
  let rss = 0;
  let heap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
  };
  sample();
  const timer = setInterval(sample, 10);
  const t0 = process.hrtime.bigint();
  try {
    const value = await fn();
    sample();
    return { value, seconds: Number(process.hrtime.bigint() - t0) / 1e9, rss, heap };
  } finally {
    clearInterval(timer);
  }
}

async function runOne(n: number): Promise<void> {
  const base = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const chunkRows = process.env.BENCH_CHUNK ? Number(process.env.BENCH_CHUNK) : undefined;
  const target = await createDatabase(base, "adbandit_bench_");
  const database = await openDatabase({ databaseUrl: target.url, poolSize: 2 });
  try {
    const s0 = process.hrtime.bigint();
    // seeded on a connection of its own, without the service's statement timeout
    const seeder = postgres(target.url, { max: 1, onnotice: () => {}, connection: { statement_timeout: 0 } });
    const campaignId = await seed(drizzle(seeder) as unknown as Db, n).finally(() => seeder.end({ timeout: 5 }));
    const seedS = Number(process.hrtime.bigint() - s0) / 1e9;
    const before = process.memoryUsage();
    console.log(
      `N = ${n.toLocaleString("en")}: seeded ${n} decisions + ${n} events in ${seedS.toFixed(1)} s; ` +
        `before the rebuild RSS ${(before.rss / MB).toFixed(0)} MB, heap ${(before.heapUsed / MB).toFixed(0)} MB`,
    );
    for (const run of ["first (repairs the seeded totals)", "second (steady state)"]) {
      try {
        const m = await measured(() => recomputeArmStats(database.db, campaignId, { chunkRows }));
        const r: RecomputeResult = m.value;
        const rowsPerS = (2 * n) / m.seconds;
        console.log(
          `  ${run}: ${m.seconds.toFixed(2)} s, ${Math.round(rowsPerS).toLocaleString("en")} rows/s; peak RSS ` +
            `${(m.rss / MB).toFixed(0)} MB, heap ${(m.heap / MB).toFixed(0)} MB; repaired ${r.repaired.length} arms, ` +
            `${r.bucketsRepaired} buckets, ${r.delaysRepaired} delay cohorts, ${r.decisionsRewritten} decisions rewritten`,
        );
        console.log(
          JSON.stringify({
            bench: "rebuild",
            n,
            run: run.split(" ")[0],
            seconds: m.seconds,
            rows_per_s: rowsPerS,
            peak_rss_mb: m.rss / MB,
            peak_heap_mb: m.heap / MB,
          }),
        );
      } catch (e) {
        // drizzle wraps the driver's error ("Failed query: …" and the whole text): show the cause
        const err = e as { message?: string; code?: string; cause?: { message?: string; code?: string } };
        const why = err.cause ?? err;
        console.log(`  ${run}: FAILED — ${why.code ? `${why.code} ` : ""}${why.message ?? String(e)}`);
        process.exitCode = 1;
        break;
      }
    }
    console.log(`  process high-water RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  } finally {
    await database.close();
    await target.drop();
  }
}

async function main(): Promise<void> {
  const one = process.argv[2];
  if (one) return runOne(Number(one));
  const sizes = (process.env.BENCH_N ?? "100000,1000000").split(",").map(Number);
  console.log(
    `\nadbandit rebuild benchmark — one campaign, ${ARMS} arms, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}\n`,
  );
  const self = fileURLToPath(import.meta.url);
  for (const n of sizes) {
    const r = spawnSync(process.execPath, [...process.execArgv, self, String(n)], { stdio: "inherit" });
    if (r.status !== 0) console.log(`  (N = ${n}: child exited with ${r.status ?? r.signal})`);
  }
}

// Imported (for its seed), it runs nothing.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
