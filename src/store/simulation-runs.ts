/**
 * Queries of the stored simulation runs (schema-simulations.ts), always scoped to a workspace. A running run
 * whose heartbeat is older than `STALE_MS` lost its process: `reapStale` marks it failed.
 */
import { and, count, desc, eq, lt, sql } from "drizzle-orm";
import type { Db } from "./db.ts";
import { type SimulationStatus, simulationRuns } from "./schema-simulations.ts";

export type SimulationRunRow = typeof simulationRuns.$inferSelect;
/** A run without its (possibly large) result, for lists. */
export type SimulationRunSummary = Omit<SimulationRunRow, "result" | "scenario">;

/** Heartbeats are written every few seconds; a minute without one means the process is gone. */
export const STALE_MS = 60_000;

export async function insertRun(
  db: Db,
  run: {
    id: string;
    workspaceId: string;
    name: string;
    scenario: Record<string, unknown>;
    repetitions: number;
    owner: string;
  },
): Promise<SimulationRunRow> {
  const [row] = await db
    .insert(simulationRuns)
    .values({ ...run, status: "running" })
    .returning();
  return row;
}

export async function getRun(db: Db, workspaceId: string, id: string): Promise<SimulationRunRow | null> {
  const [row] = await db
    .select()
    .from(simulationRuns)
    .where(and(eq(simulationRuns.workspaceId, workspaceId), eq(simulationRuns.id, id)));
  return row ?? null;
}

export async function listRuns(db: Db, workspaceId: string, limit = 100): Promise<SimulationRunSummary[]> {
  return db
    .select({
      id: simulationRuns.id,
      workspaceId: simulationRuns.workspaceId,
      name: simulationRuns.name,
      status: simulationRuns.status,
      repetitionsDone: simulationRuns.repetitionsDone,
      repetitions: simulationRuns.repetitions,
      error: simulationRuns.error,
      owner: simulationRuns.owner,
      createdAt: simulationRuns.createdAt,
      heartbeatAt: simulationRuns.heartbeatAt,
      finishedAt: simulationRuns.finishedAt,
    })
    .from(simulationRuns)
    .where(eq(simulationRuns.workspaceId, workspaceId))
    .orderBy(desc(simulationRuns.createdAt))
    .limit(limit);
}

export async function countRunning(db: Db, workspaceId: string): Promise<number> {
  const [r] = await db
    .select({ n: count() })
    .from(simulationRuns)
    .where(and(eq(simulationRuns.workspaceId, workspaceId), eq(simulationRuns.status, "running")));
  return Number(r?.n ?? 0);
}

/** Progress and heartbeat; returns the stored status (a cancel from any replica shows up here). */
export async function beat(db: Db, id: string, repetitionsDone?: number): Promise<SimulationStatus | null> {
  const [r] = await db
    .update(simulationRuns)
    .set({
      heartbeatAt: sql`now()`,
      ...(repetitionsDone !== undefined ? { repetitionsDone } : {}),
    })
    .where(eq(simulationRuns.id, id))
    .returning({ status: simulationRuns.status });
  return r?.status ?? null;
}

/** Ends a running run (done with its result, or failed); a run already cancelled stays cancelled. */
export async function finishRun(
  db: Db,
  id: string,
  end:
    | { status: "done"; result: Record<string, unknown>; repetitionsDone: number }
    | { status: "failed"; error: string },
): Promise<void> {
  await db
    .update(simulationRuns)
    .set({ ...end, finishedAt: sql`now()`, heartbeatAt: sql`now()` })
    .where(and(eq(simulationRuns.id, id), eq(simulationRuns.status, "running")));
}

/** Cancels a running run; returns the row as it is afterwards (null if not in the workspace). */
export async function cancelRun(db: Db, workspaceId: string, id: string): Promise<SimulationRunRow | null> {
  await db
    .update(simulationRuns)
    .set({ status: "cancelled", finishedAt: sql`now()`, error: "cancelled" })
    .where(
      and(eq(simulationRuns.workspaceId, workspaceId), eq(simulationRuns.id, id), eq(simulationRuns.status, "running")),
    );
  return getRun(db, workspaceId, id);
}

export async function deleteRun(db: Db, workspaceId: string, id: string): Promise<boolean> {
  const r = await db
    .delete(simulationRuns)
    .where(and(eq(simulationRuns.workspaceId, workspaceId), eq(simulationRuns.id, id)))
    .returning({ id: simulationRuns.id });
  return r.length > 0;
}

/** Marks the workspace's running runs without a recent heartbeat as failed (their process stopped). */
export async function reapStale(db: Db, workspaceId: string, now = Date.now()): Promise<void> {
  await db
    .update(simulationRuns)
    .set({ status: "failed", error: "interrupted: the process running it stopped", finishedAt: sql`now()` })
    .where(
      and(
        eq(simulationRuns.workspaceId, workspaceId),
        eq(simulationRuns.status, "running"),
        lt(simulationRuns.heartbeatAt, new Date(now - STALE_MS)),
      ),
    );
}
