/**
 * How much the hourly rollups save: builds a campaign with a long synthetic history straight in SQL
 * (generate_series; decisions, impressions, clicks, conversions over `days`), refreshes the rollups, then
 * times the report computed directly from the events against the report read from the rollups, and checks
 * they are equal.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx src/reports/bench.ts --days 30 --per-hour 600
 * (a fresh database is created on that server and dropped afterwards; without DATABASE_URL, PGlite in memory)
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Command } from "commander";
import postgres from "postgres";
import { sql } from "drizzle-orm";
import { openDatabase, rows, type Database } from "../store/db.ts";
import { campaignReport, refreshRollups } from "./queries.ts";

const HOUR = 3_600_000;

async function withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openDatabase({ dataDir: "memory://" });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }
  const name = `adbandit_bench_${randomBytes(4).toString("hex")}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  const db = await openDatabase({ databaseUrl: u.toString(), poolSize: 4 });
  try {
    return await fn(db);
  } finally {
    await db.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

function nearlyEqual(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number")
    return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => nearlyEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

async function main() {
  const o = new Command()
    .option("--days <n>", "days of history", "30")
    .option("--per-hour <n>", "decisions per hour", "600")
    .parse()
    .opts<{ days: string; perHour: string }>();
  const days = Number(o.days);
  const perHour = Number(o.perHour);
  await withDatabase(async (database) => {
    const db = database.db;
    const ws = randomUUID();
    const camp = randomUUID();
    const end = Math.floor(Date.now() / HOUR) * HOUR;
    const start = end - days * 24 * HOUR;
    await db.execute(sql`insert into workspaces (id, name) values (${ws}::uuid, 'bench')`);
    await db.execute(
      sql`insert into campaigns (id, workspace_id, name, kind, objective, strategy) values (${camp}::uuid, ${ws}::uuid, 'bench', 'creative', 'revenue', '{"type":"thompson"}'::jsonb)`,
    );
    await db.execute(
      sql`insert into arms (campaign_id, key, position) values (${camp}::uuid, 'a', 0), (${camp}::uuid, 'b', 1), (${camp}::uuid, 'c', 2)`,
    );
    const n = days * 24 * perHour;
    const t0 = performance.now();
    // Deterministic pseudo-random traffic from the row number (no Math.random): arm by i % 3, click 1 in 25, conversion 1 in 8 clicks.
    // In slices of a day: the service's connections carry a 10 s statement timeout.
    const slice = 24 * perHour;
    for (let lo = 0; lo < n; lo += slice) {
      const hi = Math.min(n, lo + slice) - 1;
      await db.execute(sql`insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, strategy_version, created_at, reward)
        select md5('d' || i)::uuid, ${ws}::uuid, ${camp}::uuid, (array['a','b','c'])[1 + i % 3], 0.2 + 0.3 * (i % 3), 1,
               to_timestamp(${start / 1000} + (i::float8 / ${n}) * ${(end - start) / 1000}), 0
        from generate_series(${lo}::bigint, ${hi}::bigint) i`);
      await db.execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost, occurred_at, attributed)
        select ${ws}::uuid, 'i' || i, md5('d' || i)::uuid, ${camp}::uuid, (array['a','b','c'])[1 + i % 3], 'impression', 0, 0.002,
               to_timestamp(${start / 1000} + (i::float8 / ${n}) * ${(end - start) / 1000} + 1), true
        from generate_series(${lo}::bigint, ${hi}::bigint) i`);
      await db.execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost, occurred_at, attributed, invalid_reason)
        select ${ws}::uuid, 'c' || i, md5('d' || i)::uuid, ${camp}::uuid, (array['a','b','c'])[1 + i % 3], 'click', 0, 0.4,
               to_timestamp(${start / 1000} + (i::float8 / ${n}) * ${(end - start) / 1000} + 20), true, case when i % 997 = 0 then 'click_burst' end
        from generate_series(${lo}::bigint, ${hi}::bigint) i where (i * 7919) % 25 = 0`);
      await db.execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost, occurred_at, attributed)
        select ${ws}::uuid, 'v' || i, md5('d' || i)::uuid, ${camp}::uuid, (array['a','b','c'])[1 + i % 3], 'conversion', 20 + (i % 50), 0,
               to_timestamp(${start / 1000} + (i::float8 / ${n}) * ${(end - start) / 1000} + 600), true
        from generate_series(${lo}::bigint, ${hi}::bigint) i where (i * 7919) % 25 = 0 and (i * 104729) % 8 = 0`);
    }
    const [{ c }] = await rows<{ c: number }>(db, sql`select count(*)::int as c from events`);
    const tLoad = performance.now() - t0;
    const t1 = performance.now();
    await refreshRollups(db, camp, start, end);
    const tRoll = performance.now() - t1;
    const q = { from: start, to: end, granularity: "day" as const };
    const time = async (source: "direct" | "rollup") => {
      const ts: number[] = [];
      let r = null;
      for (let k = 0; k < 3; k++) {
        const s = performance.now();
        r = await campaignReport(db, ws, camp, { ...q, source, rollupBefore: end });
        ts.push(performance.now() - s);
      }
      ts.sort((a, b) => a - b);
      return { ms: ts[1], r };
    };
    const direct = await time("direct");
    const rolled = await time("rollup");
    // Float sums in SQL depend on the plan's order (parallel aggregation): equal to 1e-9 relative.
    const equal = nearlyEqual(direct.r, rolled.r);
    console.log(
      `driver ${database.driver}; ${days} days, ${n.toLocaleString("en")} decisions, ${Number(c ?? 0).toLocaleString("en")} events (loaded in ${(tLoad / 1000).toFixed(1)} s)`,
    );
    console.log(`rollup refresh of the whole history: ${(tRoll / 1000).toFixed(2)} s`);
    console.log(
      `report (${days} days, daily), median of 3: direct ${direct.ms.toFixed(0)} ms, from rollups ${rolled.ms.toFixed(0)} ms; equal (1e-9): ${equal}`,
    );
  });
}

await main();
