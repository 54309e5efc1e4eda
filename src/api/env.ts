/**
 * What every handler can reach: `AppDeps` (engine, database, logger, metrics, config) given to each
 * route module's `register(app, deps)`, and `AppEnv`, the per-request context variables (the
 * authenticated workspace). Route modules outside this folder import from here only.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "pino";
import type { Engine } from "../engine/engine.ts";
import type { Database, Db } from "../store/db.ts";
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
  /** Resolves an API key to its workspace id (cached in memory), or null. */
  workspaceForKey(key: string): Promise<string | null>;
  /** Whether the database is open and answers its probe (false while it is unreachable). */
  ready(): boolean;
  /** A request saw the database unreachable: probe it now (so the next requests answer 503 at once). */
  suspectDatabase?(): void;
}

export interface AppEnv {
  Variables: {
    workspaceId: string;
    logger: Logger;
  };
}

export type App = OpenAPIHono<AppEnv>;

/** The signature of a route module. */
export type Register = (app: App, deps: AppDeps) => void;
