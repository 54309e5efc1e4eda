/**
 * Batches events in memory and sends them when `maxBatch` are waiting, every `flushIntervalMs`, and on
 * `close()`. One send runs at a time, in the order events were added. A batch that fails (after the
 * transport's own retries) goes back to the front of the queue and is sent again at the next flush —
 * safe, because events are idempotent by id — so nothing added is dropped unless the queue passes
 * `maxQueue`, where `add` refuses new events (`buffer_full`) rather than grow without bound.
 */
import type { EventBatchResult } from "./types.ts";
import { AdbanditError } from "./errors.ts";
import type { components } from "./openapi.ts";

type Event = components["schemas"]["Event"];

export interface EventBufferOptions {
  /** Events per request, and the queue length that triggers a send (default 500, at most 1000). */
  maxBatch?: number;
  /** Send what is waiting this often, in ms (default 1000; 0 = only by size and on flush/close). */
  flushIntervalMs?: number;
  /** Most events held while the service is unreachable (default 100 000). */
  maxQueue?: number;
  /** Each batch's answer, e.g. to log rejected events. */
  onResult?: (result: EventBatchResult, events: Event[]) => void;
  /** A batch that could not be sent (it stays queued). Without it, background failures are silent. */
  onError?: (error: AdbanditError, events: Event[]) => void;
  /** Also flush on the process's `beforeExit` (default false; call close() in your shutdown path). */
  flushOnExit?: boolean;
}

export class EventBuffer {
  private queue: Event[] = [];
  private sending: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  /** A flush nobody awaits: its failure is reported through onError and the events stay queued. */
  private readonly background = () => void this.flush().catch(() => {});
  private readonly onExit = this.background;
  /** Events sent and answered, by outcome. */
  readonly totals = { accepted: 0, duplicates: 0, rejected: 0, conflicts: 0, failedSends: 0 };

  constructor(
    private readonly send: (events: Event[]) => Promise<EventBatchResult>,
    private readonly options: EventBufferOptions = {},
  ) {
    this.maxBatch = Math.min(1000, Math.max(1, options.maxBatch ?? 500));
    this.maxQueue = options.maxQueue ?? 100_000;
    const every = options.flushIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(this.background, every);
      this.timer.unref();
    }
    if (options.flushOnExit) process.once("beforeExit", this.onExit);
  }

  /** Events waiting to be sent (including a batch being sent). */
  get pending(): number {
    return this.queue.length;
  }

  add(...events: Event[]): void {
    if (this.closed) throw new AdbanditError("closed", "event buffer is closed");
    if (this.queue.length + events.length > this.maxQueue)
      throw new AdbanditError(
        "buffer_full",
        `event buffer holds ${this.queue.length} events (maxQueue ${this.maxQueue})`,
      );
    this.queue.push(...events);
    if (this.queue.length >= this.maxBatch) this.background();
  }

  /**
   * Sends everything queued now, batch by batch; resolves when done. Rejects with the first failure (the
   * failed batch and those after it stay queued).
   */
  flush(): Promise<void> {
    const run = this.sending.then(() => this.drain());
    this.sending = run.catch(() => {});
    return run;
  }

  /** Stops the timer, sends what is left and refuses further events. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    process.off("beforeExit", this.onExit);
    await this.flush();
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      let result: EventBatchResult;
      try {
        result = await this.send(batch);
      } catch (err) {
        this.queue.unshift(...batch);
        this.totals.failedSends++;
        const e =
          err instanceof AdbanditError ? err : new AdbanditError("network", String((err as Error)?.message ?? err));
        this.options.onError?.(e, batch);
        throw e;
      }
      this.totals.accepted += result.accepted;
      this.totals.duplicates += result.duplicates;
      this.totals.rejected += result.rejected;
      this.totals.conflicts += result.conflicts ?? 0;
      this.options.onResult?.(result, batch);
    }
  }
}
