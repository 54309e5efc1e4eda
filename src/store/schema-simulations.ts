/**
 * Simulation runs started through the API, stored per workspace so they survive restarts and are seen by
 * every replica. The process that computes a run (`owner`) beats `heartbeat_at` while it works; a running run
 * whose heartbeat is stale lost its process and reads as failed. Cancelling sets the status; the owner sees it
 * at its next beat and stops the workers.
 */
import { index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { workspaces } from "./schema.ts";

export type SimulationStatus = "running" | "done" | "failed" | "cancelled";

export const simulationRuns = pgTable(
  "simulation_runs",
  {
    id: uuid("id").primaryKey(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    status: text("status").$type<SimulationStatus>().notNull(),
    /** The scenario as parsed (simulations/scenario.ts `Scenario`). */
    scenario: jsonb("scenario").$type<Record<string, unknown>>().notNull(),
    repetitionsDone: integer("repetitions_done").notNull().default(0),
    repetitions: integer("repetitions").notNull(),
    error: text("error"),
    /** SimulationResult (simulations/simulate.ts), when done. */
    result: jsonb("result").$type<Record<string, unknown>>(),
    owner: text("owner").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    heartbeatAt: timestamp("heartbeat_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("simulation_runs_workspace_idx").on(t.workspaceId, t.createdAt)],
);
