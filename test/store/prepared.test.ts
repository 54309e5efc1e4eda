/**
 * Repeated parameterised statements run prepared on PostgreSQL (src/store/db.ts `preparing`): drizzle
 * sends them unnamed, which costs postgres.js two round trips and PostgreSQL a parse and plan each time.
 * Checked on the server itself (pg_prepared_statements of the one pooled connection): a statement with
 * parameters is prepared once and reused, inside transactions too; one without parameters is not; and
 * past the bound, new texts run unnamed. PostgreSQL only (PGlite has no round trips to save).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { MAX_PREPARED_TEXTS, openDatabase, preparing, rows, type Database } from "../../src/store/db.ts";
import { createDatabase } from "../helpers/db.ts";

const url = process.env.DATABASE_URL;

describe.skipIf(!url)("prepared statements (PostgreSQL)", () => {
  let target: Awaited<ReturnType<typeof createDatabase>>;
  let database: Database;

  beforeAll(async () => {
    target = await createDatabase(url!);
    database = await openDatabase({ databaseUrl: target.url, poolSize: 1 });
  });
  afterAll(async () => {
    await database?.close();
    await target?.drop();
  });

  const preparedLike = async (fragment: string) =>
    (
      await rows<{ n: number }>(
        database.db,
        sql`select count(*)::int as n from pg_prepared_statements where statement like ${`%${fragment}%`} and statement not like '%pg_prepared_statements%'`,
      )
    )[0]!.n;

  it("prepares a parameterised statement once and reuses it, also inside a transaction", async () => {
    for (let i = 0; i < 3; i++) {
      const [r] = await rows<{ v: number }>(database.db, sql`select ${i}::int + 1 as v /* prepared-a */`);
      expect(r!.v).toBe(i + 1);
    }
    expect(await preparedLike("prepared-a")).toBe(1);
    await database.db.transaction(async (tx) => {
      const [r] = await rows<{ v: string }>(tx, sql`select ${"x"}::text as v /* prepared-b */`);
      expect(r!.v).toBe("x");
    });
    expect(await preparedLike("prepared-b")).toBe(1);
  });

  it("leaves statements without parameters unnamed", async () => {
    await database.db.execute(sql`select 1 as v /* unprepared-c */`);
    await database.db.execute(sql`select 1 as v /* unprepared-c */`);
    expect(await preparedLike("unprepared-c")).toBe(0);
  });

  it("runs new texts unnamed once the bound is reached", async () => {
    const client = postgres(target.url, { max: 1, onnotice: () => {} });
    try {
      const full = new Set(Array.from({ length: MAX_PREPARED_TEXTS }, (_, i) => `placeholder ${i}`));
      const db = drizzle(preparing(client, full));
      await db.execute(sql`select ${1}::int as v /* over-bound-d */`);
      await db.execute(sql`select ${2}::int as v /* over-bound-d */`);
      const [r] = await client<{ n: number }[]>`select count(*)::int as n from pg_prepared_statements
        where statement like '%over-bound-d%' and statement not like '%pg_prepared_statements%'`;
      expect(r!.n).toBe(0);
      expect(full.size).toBe(MAX_PREPARED_TEXTS);
    } finally {
      await client.end({ timeout: 5 });
    }
  });

  it("prepares nothing with ?prepare=false in the URL (poolers that cannot keep prepared statements)", async () => {
    const off = await openDatabase({ databaseUrl: `${target.url}?prepare=false`, poolSize: 1 });
    try {
      for (let i = 0; i < 3; i++) await off.db.execute(sql`select ${i}::int as v /* opted-out-e */`);
      const [r] = await rows<{ n: number }>(
        off.db,
        sql`select count(*)::int as n from pg_prepared_statements where statement like ${"%opted-out-e%"}`,
      );
      expect(r!.n).toBe(0);
    } finally {
      await off.close();
    }
  });

  it("plans the main pool's statements for their parameters, and keeps the decision log's generic", async () => {
    const mode = async (db: Database["db"]) =>
      (await rows<{ plan_cache_mode: string }>(db, sql`show plan_cache_mode`))[0]!.plan_cache_mode;
    expect(await mode(database.db)).toBe("force_custom_plan");
    expect(await mode(database.logDb)).toBe("auto");
  });
});
