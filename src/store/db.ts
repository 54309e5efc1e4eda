/**
 * Opens the database: PostgreSQL through postgres.js when a URL is given, else PGlite (embedded
 * PostgreSQL in WebAssembly) in a data folder or in memory. One drizzle schema, one set of migrations
 * (drizzle/) applied at open, the same queries for both drivers.
 *
 * PostgreSQL connections carry short connect/statement timeouts so that an unreachable server turns
 * into a quick 503, never a hanging request, and a deliberate reconnect backoff (`reconnectBackoff`):
 * postgres.js's default grows to 20 s, which would keep the service down long after the server is back.
 * Reachability is probed on a connection of its own (`ping`), so a busy pool never makes the probe late.
 *
 * postgres.js 3.4.9 is patched at install (patches/postgres+3.4.9.patch, applied by `postinstall`):
 * a write buffered just before its socket closed crashed the process (porsager/postgres#1154, #1208).
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { is, sql, type SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePg, PostgresJsTransaction } from "drizzle-orm/postgres-js";
import { migrate as migratePg } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";

// biome-ignore lint/suspicious/noExplicitAny: drizzle's database type is generic over its driver
export type Db = PgDatabase<PgQueryResultHKT, any>;

export interface Database {
  db: Db;
  /**
   * What the decision log commits on. PostgreSQL: a pool of its own (`logPoolSize` connections), whose
   * statements keep their generic plans — the commit's insert-and-upsert statement has no plan to get
   * wrong, and planning it on every commit cost ~35 % of its database CPU (bench:commit) — and which a
   * slow report or export in the main pool can never keep waiting. PGlite: `db`.
   */
  logDb: Db;
  driver: "postgres" | "pglite";
  /** Reachability check bounded by `timeoutMs` (PostgreSQL: on its own connection, outside the pool). */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl?: string;
  dataDir?: string;
  /** Connections in the postgres.js pool. */
  poolSize?: number;
  /** Connections of the decision log's pool (PostgreSQL; default 2, the commits in flight by default). */
  logPoolSize?: number;
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
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts.poolSize ?? 10, opts.logPoolSize ?? 2);
  return openPglite(opts.dataDir ?? "./data");
}

/**
 * Seconds before a closed connection reconnects after `retries` failed attempts in a row: 50 ms doubling
 * to a 500 ms cap, times a jitter in [0.5, 1] so replicas do not reconnect in step. With the cap, a
 * connection is back at most ~0.5 s after the server is (the 2 s recovery bound), while an outage costs
 * each pooled connection at most ~2–4 connection attempts a second.
 */
export function reconnectBackoff(retries: number, random: () => number = Math.random): number {
  return (0.5 + random() / 2) * Math.min(0.05 * 2 ** retries, 0.5);
}

/** Distinct statement texts a process prepares at most; beyond, new texts run unnamed as before. */
export const MAX_PREPARED_TEXTS = 2000;
/** Longer texts are not worth keeping prepared (bulk statements built once). */
const MAX_PREPARED_LENGTH = 32_768;

type Unsafe = (query: string, params?: unknown[], opts?: { prepare?: boolean }) => unknown;

/**
 * The postgres.js client with every repeated parameterised statement prepared. drizzle sends `execute`
 * and builder queries unnamed (`prepare: false` unless a query is given a name), and postgres.js then
 * sends an unnamed statement with parameters in two round trips — Parse + Describe, and once the
 * parameter types are back, Bind + Execute — while PostgreSQL parses and plans it every time. Prepared,
 * a statement costs one round trip and is parsed once per connection: the group commit of 8 decisions
 * went from 142–195 to ~105 µs of database CPU per decision (bench:commit). The number of distinct
 * texts is bounded (`MAX_PREPARED_TEXTS` per process; postgres.js keeps every prepared text for the life
 * of a connection): a text first seen beyond it, e.g. an `in (…)` list of a new length, runs unnamed.
 * Statements without parameters (DDL, BEGIN …) are left as they are.
 */
export function preparing(client: postgres.Sql, seen: Set<string>): postgres.Sql {
  const prepare = (query: string, params: unknown[] | undefined): boolean => {
    if (!params?.length || query.length > MAX_PREPARED_LENGTH) return false;
    if (seen.has(query)) return true;
    if (seen.size >= MAX_PREPARED_TEXTS) return false;
    seen.add(query);
    return true;
  };
  // postgres.js's begin / savepoint take an optional options string before the callback.
  const scoped =
    (open: (...a: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      const fn = args[args.length - 1] as (tx: postgres.Sql) => unknown;
      return open(...args.slice(0, -1), (tx: postgres.Sql) => fn(preparing(tx, seen)));
    };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "unsafe") {
        const unsafe = target.unsafe as unknown as Unsafe;
        // Options copied by hand: `{ ...opts, prepare }` is built in V8's runtime, on every statement sent.
        return ((query, params, opts) => {
          const o: Record<string, unknown> = {};
          if (opts) for (const k in opts) o[k] = (opts as Record<string, unknown>)[k];
          o.prepare = opts?.prepare || prepare(query, params);
          return unsafe(query, params, o);
        }) satisfies Unsafe;
      }
      if (prop === "begin" || prop === "savepoint") {
        const open = Reflect.get(target, prop, receiver);
        return typeof open === "function" ? scoped(open) : open;
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

/**
 * Whether a transaction's COMMIT may be sent right behind its last statements, before their answers are
 * read (`Db.transaction` returning without awaiting them): postgres.js sends it on the same connection,
 * in order, so it runs after them — and after a failed one PostgreSQL answers the COMMIT with ROLLBACK
 * (the transaction is aborted), so the caller must await those statements afterwards and fail if one did.
 * Prepared statements are what lets them pipeline at all (`preparing`). On PGlite there is no round trip
 * to save: it awaits them as usual.
 */
export const commitPipelines = (tx: unknown): boolean => is(tx, PostgresJsTransaction);

async function openPostgres(url: string, poolSize: number, logPoolSize: number): Promise<Database> {
  const timeouts = { statement_timeout: 10_000, lock_timeout: 5_000 };
  const common = {
    onnotice: () => {},
    connect_timeout: 2,
    backoff: reconnectBackoff,
    // Prepared statements (`preparing`) are planned for their parameters every time, as unnamed ones are:
    // a generic plan made while a day partition was new and had no statistics kept scanning it as it grew
    // (the duplicate-event check: ~105 ms a batch instead of ~3 under bench:http).
    connection: { ...timeouts, plan_cache_mode: "force_custom_plan" },
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
  const probe = postgres(url, { ...common, max: 1, connect_timeout: 1, idle_timeout: 0 });
  const logClient = postgres(url, { ...common, connection: timeouts, max: logPoolSize, idle_timeout: 60 });
  const seen = new Set<string>();
  const db = drizzlePg(preparing(client, seen)) as unknown as Db;
  const logDb = drizzlePg(preparing(logClient, seen)) as unknown as Db;
  return {
    db,
    logDb,
    driver: "postgres",
    ping: (timeoutMs = 1500) =>
      withTimeout(
        probe`select 1`.then(() => true),
        timeoutMs,
        false,
      ),
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), logClient.end({ timeout: 5 }), probe.end({ timeout: 1 })]);
    },
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
    logDb: pdb as unknown as Db,
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

export interface HealthOptions {
  /** Probe period while the database answers, and while it does not (ms). */
  upIntervalMs?: number;
  downIntervalMs?: number;
  /** A probe slower than this counts as a failure (ms). */
  timeoutMs?: number;
  /** Failed probes in a row that mean "down" (a single slow probe on a starved machine is not an outage). */
  failuresToDown?: number;
  onChange?: (healthy: boolean) => void;
}

/**
 * Whether the database answers, from a probe on its own connection: every `upIntervalMs` while it
 * does, every `downIntervalMs` while it does not or a probe just failed, and at once when a request saw
 * it unreachable (`suspect`). `failuresToDown` failed probes in a row mark it down; while it is down the
 * API answers 503 without waiting on the database; the first probe that succeeds lets requests through.
 */
export class DatabaseHealth {
  private up = true;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private stopped = false;
  private readonly o: Required<Omit<HealthOptions, "onChange">> & Pick<HealthOptions, "onChange">;

  constructor(
    private readonly ping: (timeoutMs: number) => Promise<boolean>,
    opts: HealthOptions = {},
  ) {
    this.o = { upIntervalMs: 1000, downIntervalMs: 200, timeoutMs: 800, failuresToDown: 2, ...opts };
    this.schedule();
  }

  get healthy(): boolean {
    return this.up;
  }

  /** Probes now (a request just saw the database unreachable); resolves when the probe is done. */
  suspect(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inflight ??= this.ping(this.o.timeoutMs)
      .catch(() => false)
      .then((ok) => {
        this.inflight = null;
        this.failures = ok ? 0 : this.failures + 1;
        const up = ok || (this.up && this.failures < this.o.failuresToDown);
        if (up !== this.up) {
          this.up = up;
          this.o.onChange?.(up);
        }
        this.schedule();
      });
    return this.inflight;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const soon = !this.up || this.failures > 0;
    this.timer = setTimeout(() => void this.suspect(), soon ? this.o.downIntervalMs : this.o.upIntervalMs);
    this.timer.unref();
  }
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
