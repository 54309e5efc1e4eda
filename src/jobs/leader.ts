/**
 * One leader per job across replicas: PostgreSQL advisory locks (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS).
 *
 * The transaction-level `pg_try_advisory_xact_lock` is used rather than the session-level
 * `pg_try_advisory_lock`: with a connection pool the unlock of a session lock must run on the very
 * connection that took it, which a pool does not promise; a transaction lock is held by one pooled
 * connection for the job's duration and released by the commit, even if the job throws. The job itself
 * runs on the other connections of the pool. A replica that does not get the lock skips this tick.
 * PGlite is one process: the lock is not needed, only the in-process guard against overlapping ticks.
 */
import { sql } from "drizzle-orm";
import { rows, type Database } from "../store/db.ts";

/** Stable 32-bit lock key per job name (FNV-1a), offset so it cannot collide with the migration lock. */
export function lockKey(name: string): number {
  let h = 0x811c9dc5;
  for (const ch of `adbandit-job:${name}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return h | 0;
}

export async function asLeader<T>(
  database: Database,
  name: string,
  fn: () => Promise<T>,
): Promise<{ ran: true; result: T } | { ran: false }> {
  if (database.driver === "pglite") return { ran: true, result: await fn() };
  let out: { ran: true; result: T } | { ran: false } = { ran: false };
  await database.db.transaction(async (tx) => {
    const [r] = await rows<{ ok: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${lockKey(name)}) as ok`);
    if (!r?.ok) return;
    out = { ran: true, result: await fn() };
  });
  return out;
}
