/**
 * Runs simulation scenarios in the background for the API and the dashboard, stored per workspace
 * (src/store/simulation-runs.ts) so any replica lists them and they outlive the process that computed them.
 *
 * Limits: at most `perWorkspace` runs of one workspace compute at once (a tenant waits for its own runs, never
 * for another's), and at most `perProcess` in this process (each is one worker thread). While a run computes,
 * its owner beats the heartbeat every `heartbeatMs`, writing progress and reading the stored status back: a
 * cancel made on any replica aborts the workers at the next beat (or at once on this one).
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Scenario } from "../../simulations/scenario.ts";
import { simulate } from "../../simulations/simulate.ts";
import type { Db } from "../store/db.ts";
import {
  beat,
  cancelRun,
  countRunning,
  finishRun,
  insertRun,
  reapStale,
  type SimulationRunRow,
} from "../store/simulation-runs.ts";

export interface SimulationLimits {
  perWorkspace: number;
  perProcess: number;
  /** rounds × repetitions × strategies of one run. */
  maxDecisions: number;
  heartbeatMs: number;
}

export const DEFAULT_SIMULATION_LIMITS: SimulationLimits = {
  perWorkspace: 2,
  perProcess: 8,
  maxDecisions: 50_000_000,
  heartbeatMs: 5_000,
};

/** A run refused for a limit: `busy` (concurrency) or `too_large` (size). */
export class SimulationLimitError extends Error {
  constructor(
    readonly kind: "busy" | "too_large",
    message: string,
  ) {
    super(message);
  }
}

export class SimulationRunner {
  readonly owner = randomUUID();
  private readonly active = new Map<string, { controller: AbortController; workspaceId: string }>();
  readonly limits: SimulationLimits;

  constructor(
    private readonly db: () => Db,
    private readonly logger: Logger,
    limits: Partial<SimulationLimits> = {},
  ) {
    this.limits = { ...DEFAULT_SIMULATION_LIMITS, ...limits };
  }

  /** Stores the run and starts it; throws SimulationLimitError when a limit says no. */
  async start(workspaceId: string, scenario: Scenario): Promise<SimulationRunRow> {
    const size = scenario.traffic.rounds * scenario.repetitions * scenario.strategies.length;
    if (size > this.limits.maxDecisions)
      throw new SimulationLimitError(
        "too_large",
        `rounds × repetitions × strategies = ${size} exceeds ${this.limits.maxDecisions}`,
      );
    const db = this.db();
    await reapStale(db, workspaceId);
    const mine = [...this.active.values()].filter((a) => a.workspaceId === workspaceId).length;
    const running = Math.max(mine, await countRunning(db, workspaceId));
    if (running >= this.limits.perWorkspace)
      throw new SimulationLimitError(
        "busy",
        `${running} simulations of this workspace are running (at most ${this.limits.perWorkspace}); try again when one finishes`,
      );
    if (this.active.size >= this.limits.perProcess)
      throw new SimulationLimitError("busy", "this server is running as many simulations as it can; try again shortly");
    const id = randomUUID();
    const controller = new AbortController();
    this.active.set(id, { controller, workspaceId });
    let row: SimulationRunRow;
    try {
      row = await insertRun(db, {
        id,
        workspaceId,
        name: scenario.name,
        scenario: scenario as unknown as Record<string, unknown>,
        repetitions: scenario.repetitions,
        owner: this.owner,
      });
    } catch (err) {
      this.active.delete(id);
      throw err;
    }
    void this.compute(id, scenario, controller);
    return row;
  }

  private async compute(id: string, scenario: Scenario, controller: AbortController): Promise<void> {
    let done = 0;
    const tick = async () => {
      try {
        const status = await beat(this.db(), id, done);
        if (status !== "running") controller.abort();
      } catch (err) {
        this.logger.warn({ err: String(err), simulation: id }, "simulation heartbeat failed");
      }
    };
    const timer = setInterval(() => void tick(), this.limits.heartbeatMs);
    timer.unref();
    try {
      const result = await simulate(scenario, {
        workers: 1,
        signal: controller.signal,
        onProgress: (n) => {
          done = n;
        },
      });
      await finishRun(this.db(), id, {
        status: "done",
        result: result as unknown as Record<string, unknown>,
        repetitionsDone: scenario.repetitions,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!controller.signal.aborted) this.logger.warn({ err: message, simulation: id }, "simulation failed");
      await finishRun(this.db(), id, { status: "failed", error: message }).catch(() => {});
    } finally {
      clearInterval(timer);
      this.active.delete(id);
    }
  }

  /** Cancels a running run of the workspace (at once if this process computes it). */
  async cancel(workspaceId: string, id: string): Promise<SimulationRunRow | null> {
    const row = await cancelRun(this.db(), workspaceId, id);
    const mine = this.active.get(id);
    if (mine && mine.workspaceId === workspaceId) mine.controller.abort();
    return row;
  }

  /** Stops every run of this process (marking them failed); for shutdown and tests. */
  async close(): Promise<void> {
    for (const a of this.active.values()) a.controller.abort();
  }

  /** Waits until this process computes nothing (tests). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
