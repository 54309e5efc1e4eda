/**
 * A FIFO async mutex. The engine holds it around every database step that changes arm statistics
 * (decision flush, event ingest) and around the refresh that reads them back, so that the in-memory
 * totals are always "database + what is queued" with nothing counted twice or missed.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
