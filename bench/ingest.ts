/**
 * Focused benchmark of event ingest (`npm run bench:ingest`): Engine.ingest in this process, on a fresh
 * PostgreSQL database, with no HTTP in front — so the service CPU it reports is the learn path's own
 * (parse → attribute → classify → persist → reward deltas → apply), and the SQL statements per batch are
 * counted exactly (postgres.js `debug` hook; BEGIN and COMMIT included, the live state's background
 * refresh too, which is a few statements every 2 s), and so are the round trips (socket writes after a read).
 *
 * Database CPU is that of the backends connected to the benchmark's own database (/proc), so other work on a
 * shared server is not counted (bench:http sums every postgres process).
 *
 * Phases, after a warm-up: sequential batches (one at a time: latency and statements per batch), then
 * BENCH_CONCURRENCY batches at once for BENCH_SECONDS (events/s). Events are shaped as bench/http.ts
 * sends them (alternating clicks with a cost and conversions worth 1, on a pool of 20,000 decisions);
 * BENCH_SOURCES=1 adds an IP and a user agent to each (pseudonymised per event).
 *
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_SECONDS (8),
 * BENCH_CONCURRENCY (32), BENCH_EVENT_BATCH (100), BENCH_SEQUENTIAL (200 batches), BENCH_POOL (10).
 */
import { Socket } from "node:net";
import { cpus, loadavg } from "node:os";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import { pino } from "pino";
import postgres from "postgres";
import { Engine } from "../src/engine/engine.ts";
import type { EventInput } from "../src/engine/learn.ts";
import { loadRegistry } from "../src/engine/registry.ts";
import { openDatabase, preparing, rows, type Database, type Db } from "../src/store/db.ts";
import { workspaces } from "../src/store/schema.ts";
import { createDatabase } from "../test/helpers/db.ts";
import { databaseCpuSeconds } from "./proc.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const BATCH = Number(process.env.BENCH_EVENT_BATCH ?? 100);
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 200);
const POOL = Number(process.env.BENCH_POOL ?? 10);
const SOURCES = process.env.BENCH_SOURCES === "1";

let statements = 0;
let roundTrips = 0;

/**
 * Round trips to PostgreSQL: a write to a database socket after something was read from it (or its
 * first) starts one; writes pipelined with no answer read in between are the same round trip.
 */
function countRoundTrips(port: number): void {
  const waiting = new WeakSet<Socket>();
  const watched = new WeakSet<Socket>();
  const write = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    if (this.remotePort === port && !waiting.has(this)) {
      roundTrips++;
      waiting.add(this);
      if (!watched.has(this)) {
        watched.add(this);
        this.prependListener("data", () => waiting.delete(this));
      }
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof Socket.prototype.write;
}

/**
 * The service's PostgreSQL database as `openDatabase` opens it (statements prepared, custom plans), on a
 * client whose every statement is counted.
 */
function countingDatabase(url: string): { database: Database; end(): Promise<void> } {
  const client = postgres(url, {
    max: POOL,
    onnotice: () => {},
    connection: {
      statement_timeout: 10_000,
      lock_timeout: 5_000,
      plan_cache_mode: "force_custom_plan",
      // BENCH_EXPLAIN=<ms>: the server logs the plan (with actual times) of statements slower than that.
      ...(process.env.BENCH_EXPLAIN
        ? {
            session_preload_libraries: "auto_explain",
            "auto_explain.log_min_duration": process.env.BENCH_EXPLAIN,
            "auto_explain.log_analyze": "on",
            "auto_explain.log_triggers": "on",
          }
        : {}),
    },
    debug: () => {
      statements++;
    },
  });
  const db = drizzle(preparing(client, new Set())) as unknown as Db;
  return {
    database: { db, logDb: db, driver: "postgres", ping: async () => true, close: async () => {} },
    end: () => client.end({ timeout: 5 }),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : Number.NaN;
};
const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(): Promise<void> {
  const base = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  countRoundTrips(Number(new URL(base).port || 5432));
  const created = await createDatabase(base, "adbandit_ingest_");
  const migrated = await openDatabase({ databaseUrl: created.url, poolSize: 1 });
  await migrated.close();
  const { database, end } = countingDatabase(created.url);
  const admin = postgres(created.url, { max: 1, onnotice: () => {} });
  const logger = pino({ level: "warn" });
  const engine = new Engine({ database, registry: await loadRegistry(), logger, seed: 1, refreshIntervalMs: 2000 });
  try {
    await engine.start();
    const [w] = await database.db.insert(workspaces).values({ name: "bench ingest" }).returning();
    const c = await engine.createCampaign(w!.id, {
      name: "bench events",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: Array.from({ length: 10 }, (_, i) => ({ key: `a${i}`, name: `arm ${i}` })),
    });
    const pool: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await engine.decideBatch(
        w!.id,
        Array.from({ length: 1000 }, (_, j) => ({ campaignId: c.id, unitId: `p${i}-${j}` })),
      );
      for (const d of r) if ("decisionId" in d) pool.push(d.decisionId);
    }
    await engine.flush();

    let seq = 0;
    const batch = (): EventInput[] =>
      Array.from({ length: BATCH }, () => {
        const k = seq++;
        return {
          id: `e${k}`,
          decisionId: pool[(k * 7919) % pool.length]!,
          type: k % 2 ? "click" : "conversion",
          ...(k % 2 ? { cost: 0.01 } : { value: 1 }),
          ...(SOURCES
            ? {
                source: {
                  ip: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`,
                  userAgent: `Mozilla/5.0 (bench ${k % 50})`,
                },
              }
            : {}),
        };
      });
    let accepted = 0;
    const send = async () => {
      const r = await engine.ingest(w!.id, batch());
      accepted += r.accepted;
      if (r.accepted !== BATCH) throw new Error(`batch: ${r.accepted} accepted of ${BATCH}`);
    };

    // warm-up (JIT, pools, prepared statements)
    for (let i = 0; i < 100; i++) await send();

    // sequential
    const latencies: number[] = [];
    let cpu0 = cpuMicros();
    // The database's CPU: its backends serving this database only (other work on a shared server is not counted).
    const dbCpu = () => databaseCpuSeconds(admin);
    let db0 = await dbCpu();
    let st0 = statements;
    let rt0 = roundTrips;
    let t0 = performance.now();
    for (let i = 0; i < SEQUENTIAL; i++) {
      const s = performance.now();
      await send();
      latencies.push(performance.now() - s);
    }
    const seqWall = (performance.now() - t0) / 1000;
    const seqRow = {
      batches: SEQUENTIAL,
      ms_p50: median(latencies),
      events_per_s: (SEQUENTIAL * BATCH) / seqWall,
      service_cpu_us_per_event: (cpuMicros() - cpu0) / (SEQUENTIAL * BATCH),
      db_cpu_us_per_event: (((await dbCpu()) - db0) * 1e6) / (SEQUENTIAL * BATCH),
      statements_per_batch: (statements - st0) / SEQUENTIAL,
      round_trips_per_batch: (roundTrips - rt0) / SEQUENTIAL,
    };

    // concurrent
    let batches = 0;
    const concurrentLatencies: number[] = [];
    cpu0 = cpuMicros();
    db0 = await dbCpu();
    st0 = statements;
    rt0 = roundTrips;
    t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          const s = performance.now();
          await send();
          concurrentLatencies.push(performance.now() - s);
          batches++;
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    const conRow = {
      batches,
      ms_p50: median(concurrentLatencies),
      events_per_s: (batches * BATCH) / wall,
      service_cpu_us_per_event: (cpuMicros() - cpu0) / (batches * BATCH),
      db_cpu_us_per_event: (((await dbCpu()) - db0) * 1e6) / (batches * BATCH),
      statements_per_batch: (statements - st0) / batches,
      round_trips_per_batch: (roundTrips - rt0) / batches,
    };
    const stored = (
      await rows<{ n: number }>(database.db, sql`select count(*)::int as n from events where campaign_id = ${c.id}`)
    )[0]!.n;

    const f = (x: number, d = 1) => x.toFixed(d);
    console.log(
      `\nadbandit ingest benchmark — in-process Engine.ingest on PostgreSQL, batches of ${BATCH}${SOURCES ? " with sources" : ""}, pool ${POOL}, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}\n`,
    );
    for (const [name, r] of [
      ["sequential", seqRow],
      [`${CONCURRENCY} at once`, conRow],
    ] as const)
      console.log(
        `${name.padEnd(12)} ${f(r.events_per_s, 0).padStart(7)} events/s   batch p50 ${f(r.ms_p50)} ms   service ${f(r.service_cpu_us_per_event)} µs/event   database ${f(r.db_cpu_us_per_event)} µs/event   ${f(r.statements_per_batch, 2)} statements / ${f(r.round_trips_per_batch, 2)} round trips per batch`,
      );
    console.log(`events accepted / stored: ${accepted} / ${stored}`);
    for (const [phase, r] of [
      ["sequential", seqRow],
      ["concurrent", conRow],
    ] as const)
      console.log(JSON.stringify({ bench: "ingest", phase, batch: BATCH, sources: SOURCES, ...r }));
    if (accepted !== stored) process.exitCode = 1;
  } finally {
    await engine.close();
    await end();
    await admin.end({ timeout: 5 });
    await created.drop();
  }
}

await main();
