/**
 * A throwaway database per test suite.
 *
 * With DATABASE_URL set, a fresh database `adbandit_t_<random>` is created on that PostgreSQL server and
 * its URL returned, so suites never share state; without it, an in-memory PGlite ("memory://"). So
 * `npm test` runs the storage/API suites on PGlite, and `DATABASE_URL=postgres://… npm test` runs the same
 * suites against the real server.
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";

export interface TestDatabase {
  options: { databaseUrl?: string; dataDir?: string };
  /** Drops the database (PostgreSQL) — a no-op on PGlite. Safe to call twice. */
  drop(): Promise<void>;
}

/** Same server as `url`, another database name (keeps user, password, host, port and query). */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A connection to the server's maintenance database, for CREATE / DROP DATABASE. */
function adminSql(url: string) {
  return postgres(withDatabase(url, "postgres"), { max: 1, onnotice: () => {}, connect_timeout: 10 });
}

export async function createDatabase(
  url: string,
  prefix = "adbandit_t_",
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}${randomBytes(6).toString("hex")}`;
  const sql = adminSql(url);
  try {
    await sql.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  let dropped = false;
  return {
    url: withDatabase(url, name),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      const admin = adminSql(url);
      try {
        // FORCE ends connections a crashed test may have left open (PostgreSQL ≥ 13).
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

export async function testDatabase(): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL;
  if (!url) return { options: { dataDir: "memory://" }, drop: async () => {} };
  const db = await createDatabase(url);
  return { options: { databaseUrl: db.url }, drop: db.drop };
}

/** True when the suites run against a PostgreSQL server (DATABASE_URL set). */
export const onPostgres = (): boolean => Boolean(process.env.DATABASE_URL);
