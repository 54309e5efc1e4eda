/**
 * Group commit of the decision log. Concurrent decisions queue here; at the end of the event-loop
 * turn everything queued is written as one statement (the decision rows and their arm_stats
 * increments, src/store/arm-stats.ts), and each caller's promise settles only after the commit, so
 * an answered decision is always a logged one. Up to `maxInflight` commits run at once, a second one
 * only for a batch of at least `minParallelBatch`: while one commit waits on the server's fsync the
 * queue grows, so batches get larger (fewer statements and fsyncs per decision) at the same latency.
 */
import type { Logger } from "pino";
import { insertDecisionsWithStats, type DecisionRow } from "../store/arm-stats.ts";
import { isUnavailable, type Db } from "../store/db.ts";
import { DomainError } from "./errors.ts";
import type { RwLock } from "./mutex.ts";
import type { ArmIncrement } from "./stats.ts";

export interface QueuedDecision {
  row: DecisionRow;
  /** The decision's trial (src/engine/stats.ts trialIncrement). */
  inc: ArmIncrement;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface DecisionLogOptions {
  db: Db;
  /** Held shared by each commit (the refresh holds it exclusively). */
  lock: RwLock;
  logger: Logger;
  maxBatch?: number;
  maxInflight?: number;
  minParallelBatch?: number;
  /** Runs once per turn before commits start (the engine syncs strategy states here). */
  beforeCommit(): void;
  /** After a commit (`committed`) or a failed one: the engine moves the increment out of `pending`. */
  settle(e: QueuedDecision, committed: boolean): void;
  onCommitted?(n: number): void;
}

export class DecisionLog {
  private queue: QueuedDecision[] = [];
  private inflight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly o: DecisionLogOptions) {}

  append(e: Omit<QueuedDecision, "resolve" | "reject">): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...e, resolve, reject });
      this.kick();
    });
  }

  /** Resolves when nothing is queued or in flight. */
  flush(): Promise<void> {
    if (this.queue.length === 0 && this.inflight === 0) return Promise.resolve();
    const p = new Promise<void>((r) => this.idle.push(r));
    if (this.queue.length) this.kick();
    return p;
  }

  private kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets every request already parsed in this turn join the same commit.
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    this.o.beforeCommit();
    const max = this.o.maxInflight ?? 2;
    const minParallel = this.o.minParallelBatch ?? 16;
    while (this.queue.length && this.inflight < max && (this.inflight === 0 || this.queue.length >= minParallel)) {
      const batch = this.queue.splice(0, this.o.maxBatch ?? 2000);
      this.inflight++;
      void this.o.lock
        .shared(() => this.write(batch))
        .finally(() => {
          this.inflight--;
          if (this.queue.length) this.kick();
          else if (this.inflight === 0) for (const f of this.idle.splice(0)) f();
        });
    }
  }

  private async write(batch: QueuedDecision[]): Promise<void> {
    try {
      await insertDecisionsWithStats(
        this.o.db,
        batch.map((e) => e.row),
        batch.map((e) => e.inc),
      );
    } catch (err) {
      // Not logged, so not counted: the engine takes the trials back out of memory.
      for (const e of batch) this.o.settle(e, false);
      const unavailable = isUnavailable(err);
      if (!unavailable) this.o.logger.error({ err }, "decision flush failed");
      const out = unavailable ? new DomainError("unavailable", "database unavailable") : err;
      for (const e of batch) e.reject(out);
      return;
    }
    for (const e of batch) this.o.settle(e, true);
    this.o.onCommitted?.(batch.length);
    for (const e of batch) e.resolve();
  }
}
