/**
 * What every handler can reach: `AppDeps` (engine, database, logger, metrics, config) given to each
 * route module's `register(app, deps)`, and `AppEnv`, the per-request context variables (the
 * authenticated workspace). Route modules outside this folder import from here only.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "pino";
import type { Engine } from "../engine/engine.ts";
import type { Database, Db } from "../store/db.ts";
import type { KeyRole } from "../store/schema.ts";
import type { RateLimit } from "./limits.ts";
import type { Metrics } from "./metrics.ts";

export interface AppDeps {
  /** Throws a 503-mapped error while the database is unreachable. */
  readonly engine: Engine;
  /** Throws a 503-mapped error while the database is unreachable. */
  readonly database: Database;
  /** Shortcut for `database.db`. */
  readonly db: Db;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly adminKey: string;
  /** Bytes of request bodies read or handled at once (limits.ts `BodyBudget`); default 32 MiB. */
  readonly bodyBudgetBytes?: number;
  /** Per-workspace rate limit (limits.ts `RateLimiter`); none when unset. */
  readonly rateLimit?: RateLimit;
  /** Resolves a live API key to its workspace, role and id (cached for the refresh interval), or null. */
  resolveKey(key: string): Promise<ResolvedKey | null>;
  /** Resolves an API key to its workspace id, or null (`resolveKey`'s workspace). */
  workspaceForKey(key: string): Promise<string | null>;
  /** Drops a revoked key from this replica's cache at once. */
  forgetKey(keyId: string): void;
  /** Whether the database is open and answers its probe (false while it is unreachable). */
  ready(): boolean;
  /** A request saw the database unreachable: probe it now (so the next requests answer 503 at once). */
  suspectDatabase?(): void;
}

export interface ResolvedKey {
  workspaceId: string;
  role: KeyRole;
  keyId: string;
}

export interface AppEnv {
  Variables: {
    workspaceId: string;
    /** The role of the request's API key. */
    role: KeyRole;
    /** The id of the request's API key (recorded by audited actions such as erasures). */
    keyId: string;
    logger: Logger;
  };
}

export type App = OpenAPIHono<AppEnv>;

/** The signature of a route module. */
export type Register = (app: App, deps: AppDeps) => void;
