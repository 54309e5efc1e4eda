/**
 * Opens the database: PostgreSQL through postgres.js when a URL is given, else PGlite (embedded
 * PostgreSQL in WebAssembly) in a data folder or in memory. One drizzle schema, one set of migrations
 * (drizzle/) applied at open, the same queries for both drivers.
 *
 * PostgreSQL connections carry short connect/statement timeouts so that an unreachable server turns
 * into a quick 503, never a hanging request.
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { sql, type SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePg } from "drizzle-orm/postgres-js";
import { migrate as migratePg } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";

// biome-ignore lint/suspicious/noExplicitAny: drizzle's database type is generic over its driver
export type Db = PgDatabase<PgQueryResultHKT, any>;

export interface Database {
  db: Db;
  driver: "postgres" | "pglite";
  /** Reachability check bounded by `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl?: string;
  dataDir?: string;
  /** Connections in the postgres.js pool. */
  poolSize?: number;
}

export const migrationsFolder = fileURLToPath(new URL("../../drizzle", import.meta.url));

/** Both drivers' `execute` results as plain rows (postgres.js gives an array, PGlite `{rows}`). */
export async function rows<T = Record<string, unknown>>(
  db: Db | { execute(q: SQL): Promise<unknown> },
  q: SQL,
): Promise<T[]> {
  const r = (await db.execute(q)) as unknown;
  return (Array.isArray(r) ? r : (r as { rows: T[] }).rows) as T[];
}

// Any fixed number: serialises migrations when several processes start on one server at once.
const MIGRATION_LOCK = 727_261_501;

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts.poolSize ?? 10);
  return openPglite(opts.dataDir ?? "./data");
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const common = {
    onnotice: () => {},
    connect_timeout: 2,
    connection: { statement_timeout: 10_000, lock_timeout: 5_000 },
  } as const;
  const migrator = postgres(url, { ...common, max: 1 });
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePg(drizzlePg(migrator), { migrationsFolder });
    await migrator`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    await migrator.end({ timeout: 5 });
  }
  const client = postgres(url, { ...common, max: poolSize, idle_timeout: 60 });
  const db = drizzlePg(client) as unknown as Db;
  return {
    db,
    driver: "postgres",
    ping: (timeoutMs = 1500) =>
      withTimeout(
        client`select 1`.then(() => true),
        timeoutMs,
        false,
      ),
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(dataDir: string): Promise<Database> {
  if (!dataDir.startsWith("memory://")) mkdirSync(dataDir, { recursive: true });
  const client = new PGlite(dataDir);
  const pdb = drizzlePglite(client);
  await migratePglite(pdb, { migrationsFolder });
  let closed = false;
  return {
    db: pdb as unknown as Db,
    driver: "pglite",
    ping: (timeoutMs = 1500) =>
      closed
        ? Promise.resolve(false)
        : withTimeout(
            client.query("select 1").then(() => true),
            timeoutMs,
            false,
          ),
    close: async () => {
      closed = true;
      await client.close();
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(fallback);
      },
    );
  });
}

/** True for errors meaning "the database cannot be reached" (→ 503), as opposed to a bad query. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; errno?: string; message?: string; cause?: unknown } | undefined;
  if (!e) return false;
  const code = String(e.code ?? e.errno ?? "");
  if (
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "ENOTFOUND",
      "EHOSTUNREACH",
      "CONNECT_TIMEOUT",
      "CONNECTION_CLOSED",
      "CONNECTION_ENDED",
      "CONNECTION_DESTROYED",
      "57P01",
      "57P02",
      "57P03",
      "53300",
      "57014",
      "55P03",
    ].includes(code)
  )
    return true;
  if (/PGlite is closed|connection.*(closed|ended|refused)|ECONNREFUSED/i.test(e.message ?? "")) return true;
  return e.cause !== undefined && e.cause !== err ? isUnavailable(e.cause) : false;
}

export { sql };
