/**
 * Statements of a hot path run as prepared statements on PostgreSQL.
 *
 * drizzle runs every query unnamed (postgres.js `prepare: false`), and postgres.js then sends a query with
 * parameters as Parse + Describe alone, waits for the parameter types, and only then sends Bind + Execute:
 * two round trips a statement, and the connection pipelines nothing behind it (postgres.js connection.js
 * `execute`: `!q.describeFirst`) — statements started together still run one after another. A prepared
 * statement (postgres.js caches it per connection by its text) is one Bind + Execute, pipelined, and
 * the server parses it once per connection. PGlite has no round trips: there it runs as drizzle would.
 */
import { is, type SQL } from "drizzle-orm";
import { PostgresJsTransaction } from "drizzle-orm/postgres-js";
import type { PgDialect } from "drizzle-orm/pg-core";
import type { Db } from "./db.ts";

interface Internals {
  _: { session: { prepareQuery(q: unknown, f: undefined, name: string, arrayMode: boolean): { execute(): unknown } } };
  dialect: PgDialect;
}

/** An `execute` running each statement prepared (on PostgreSQL; on PGlite the same as `db.execute`). */
export function preparedExecute(db: Pick<Db, "execute">): Pick<Db, "execute"> {
  const d = db as unknown as Partial<Internals>;
  const session = d._?.session;
  const dialect = d.dialect;
  if (!session?.prepareQuery || !dialect?.sqlToQuery) return db;
  // The name only tells drizzle to pass `prepare: true`; postgres.js names and caches statements itself.
  const execute = (q: SQL) => session.prepareQuery(dialect.sqlToQuery(q), undefined, "hot", false).execute();
  return { execute } as unknown as Pick<Db, "execute">;
}

/**
 * Whether a transaction's COMMIT may be sent right behind its last statements, before their answers are
 * read (`Db.transaction` returning without awaiting them): postgres.js sends it on the same connection,
 * in order, so it runs after them — and after a failed one PostgreSQL answers the COMMIT with ROLLBACK
 * (the transaction is aborted), so the caller must await those statements afterwards and fail if one did.
 * On PGlite there is no round trip to save: it awaits them as usual.
 */
export const commitPipelines = (tx: unknown): boolean => is(tx, PostgresJsTransaction);
