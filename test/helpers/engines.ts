/**
 * The set-up engine-level suites share: a test database (PGlite, or PostgreSQL with DATABASE_URL), the
 * strategy registry, one workspace, and the engines a test opens — closed after each test, with fake
 * timers undone. Read the fields inside tests (they are set in beforeAll).
 */
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, vi } from "vitest";
import { Engine, type EngineOptions } from "../../src/engine/engine.ts";
import { loadRegistry, type StrategyRegistry } from "../../src/engine/registry.ts";
import { openDatabase, type Database } from "../../src/store/db.ts";
import { workspaces } from "../../src/store/schema.ts";
import { testDatabase, type TestDatabase } from "./db.ts";

export interface EngineSuite {
  readonly database: Database;
  readonly registry: StrategyRegistry;
  /** The suite's workspace id. */
  readonly ws: string;
  /** Engines opened by `engine` and not yet closed (closed after each test). */
  readonly engines: Engine[];
  /** An engine (not started) on the suite's database: seed 1, no background refresh, unless `opts` says. */
  engine(opts?: Partial<EngineOptions>): Engine;
}

export function engineSuite(workspace: typeof workspaces.$inferInsert): EngineSuite {
  const logger = pino({ level: "silent" });
  let tdb: TestDatabase | undefined;
  let database: Database | undefined;
  let registry: StrategyRegistry | undefined;
  let ws = "";
  const engines: Engine[] = [];
  beforeAll(async () => {
    tdb = await testDatabase();
    database = await openDatabase(tdb.options);
    registry = await loadRegistry();
    const [w] = await database.db.insert(workspaces).values(workspace).returning();
    ws = w!.id;
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const e of engines.splice(0)) await e.close();
  });
  afterAll(async () => {
    await database?.close();
    await tdb?.drop();
  });
  return {
    get database() {
      return database!;
    },
    get registry() {
      return registry!;
    },
    get ws() {
      return ws;
    },
    engines,
    engine(opts = {}) {
      const e = new Engine({
        database: database!,
        registry: registry!,
        logger,
        seed: 1,
        refreshIntervalMs: 0,
        ...opts,
      });
      engines.push(e);
      return e;
    },
  };
}
