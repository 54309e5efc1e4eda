/**
 * Lock order on the real PostgreSQL server: event ingest running concurrently with the fraud
 * take-back (events marked invalid, then the exact rebuild) and with decision commits. Before the lock
 * order was fixed, ingest locked decisions then arm_stats and the rebuild the reverse, so they
 * deadlocked (40P01) and the loser answered 500. Now: no ingest, decision or rebuild fails, and
 * afterwards arm_stats equal what the stored decisions and valid attributed events imply (the
 * consistency check finds nothing to repair).
 *
 * Needs DATABASE_URL (PGlite runs one transaction at a time: it cannot deadlock).
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mulberry32 } from "../../strategies/rng.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadRegistry } from "../../src/engine/registry.ts";
import { openDatabase, sql, type Database } from "../../src/store/db.ts";
import { workspaces } from "../../src/store/schema.ts";
import { createDatabase } from "../helpers/db.ts";

const url = process.env.DATABASE_URL;
const logger = pino({ level: "silent" });

describe.skipIf(!url)("ingest concurrent with recompute (PostgreSQL)", () => {
  let database: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const d = await createDatabase(url!);
    drop = d.drop;
    database = await openDatabase({ databaseUrl: d.url, poolSize: 8 });
  });
  afterAll(async () => {
    await database?.close();
    await drop?.();
  });

  it("never fails a request, and arm_stats equal what the rows imply afterwards", { timeout: 240_000 }, async () => {
    const registry = await loadRegistry();
    const [w] = await database.db.insert(workspaces).values({ name: "locks" }).returning();
    const e = new Engine({ database, registry, logger, seed: 2, refreshIntervalMs: 0, maxInflight: 4 });
    await e.start();
    const c = await e.createCampaign(w.id, {
      name: "locks",
      kind: "creative",
      objective: "profit",
      strategy: { type: "gaussian_thompson" },
      arms: [{ key: "a", cost: 0.1 }, { key: "b", cost: 0.2 }, { key: "c" }],
    });
    const ds = (await Promise.all(Array.from({ length: 300 }, () => e.decide(w.id, c.id, {})))).map(
      (d) => d.decisionId,
    );
    const rng = new Mulberry32(7);
    let seq = 0;
    const failures: unknown[] = [];
    const ingester = async () => {
      for (let k = 0; k < 25; k++) {
        const events = Array.from({ length: 40 }, () => ({
          id: `lk-${seq++}`,
          decisionId: ds[Math.floor(rng.next() * ds.length)],
          type: rng.next() < 0.5 ? ("conversion" as const) : ("click" as const),
          value: Math.round(rng.next() * 100) / 10,
          cost: Math.round(rng.next() * 10) / 100,
          source: { ip: `10.0.0.${Math.floor(rng.next() * 20)}` },
        }));
        await e.ingest(w.id, events).catch((err) => failures.push(err));
      }
    };
    const decider = async () => {
      for (let k = 0; k < 40; k++) await e.decide(w.id, c.id, {}).catch((err) => failures.push(err));
    };
    let takeBacks = 0;
    let stop = false;
    const fraud = async () => {
      while (!stop) {
        // what the fraud scan does: mark one source's events invalid, then rebuild without them
        const ip = `10.0.0.${Math.floor(rng.next() * 20)}`;
        await database.db.execute(
          sql`update events set invalid_reason = 'test' where campaign_id = ${c.id}::uuid and source_ip = ${ip} and invalid_reason is null`,
        );
        await e.recompute(c.id).catch((err) => failures.push(err));
        takeBacks++;
      }
    };
    const f = [fraud(), fraud()];
    await Promise.all([ingester(), ingester(), ingester(), ingester(), decider(), decider()]);
    stop = true;
    await Promise.all(f);
    expect(failures.map(String)).toEqual([]);
    expect(takeBacks).toBeGreaterThan(2);
    const report = await e.checkConsistency();
    expect(report.failed).toEqual([]);
    expect(report.repaired).toEqual([]);
    await e.close();
  });
});
