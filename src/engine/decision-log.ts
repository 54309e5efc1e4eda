/**
 * Group commit. Concurrent appends queue here; at the end of the event-loop turn everything queued is
 * handed to `write` as one batch, and each caller's promise settles with its own item's outcome only
 * after the write, so an answered decision is always a logged one. Up to `maxInflight` writes run at
 * once, a second one only for a batch of at least `minParallelBatch`: while one commit waits on the
 * server's fsync the queue grows, so batches get larger (fewer statements and fsyncs per decision) at the
 * same latency.
 *
 * The log knows nothing of decisions, locks or the database: `write` (the decide flow's commit) does
 * the work and says, per item, whether it was committed.
 */
export interface GroupCommitOptions<T> {
  /** Writes a batch; resolves with one outcome per item: undefined when committed, else its error. */
  write(batch: T[]): Promise<(unknown | undefined)[]>;
  maxBatch?: number;
  maxInflight?: number;
  minParallelBatch?: number;
}

interface Queued<T> {
  item: T;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class DecisionLog<T> {
  private queue: Queued<T>[] = [];
  private inflight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly o: GroupCommitOptions<T>) {}

  /** Resolves once the item is committed; rejects with its error otherwise. */
  append(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
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
    const max = this.o.maxInflight ?? 2;
    const minParallel = this.o.minParallelBatch ?? 16;
    while (this.queue.length && this.inflight < max && (this.inflight === 0 || this.queue.length >= minParallel)) {
      const batch = this.queue.splice(0, this.o.maxBatch ?? 2000);
      this.inflight++;
      void this.run(batch).finally(() => {
        this.inflight--;
        if (this.queue.length) this.kick();
        else if (this.inflight === 0) for (const f of this.idle.splice(0)) f();
      });
    }
  }

  private async run(batch: Queued<T>[]): Promise<void> {
    let outcomes: (unknown | undefined)[];
    try {
      outcomes = await this.o.write(batch.map((q) => q.item));
    } catch (err) {
      outcomes = batch.map(() => err);
    }
    batch.forEach((q, i) => {
      const err = outcomes[i];
      if (err === undefined) q.resolve();
      else q.reject(err);
    });
  }
}
