/**
 * What the engine needs to know of a failed statement: its SQLSTATE, whether trying again can help
 * (serialization failure 40001, deadlock 40P01), whether the data itself was refused (class 22, data
 * exception; class 54, program limit exceeded, e.g. a JSON too deep), and a short description for one
 * log line. drizzle wraps the driver's error in one whose message holds the query and all its
 * parameters (a group commit's batch): that message is never logged.
 */

/** The SQLSTATE of the driver error, looked for along the `cause` chain. */
export function sqlState(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** A serialization failure or a deadlock: the transaction may succeed if run again. */
export const isTransient = (err: unknown): boolean => {
  const s = sqlState(err);
  return s === "40001" || s === "40P01";
};

/** The database refused the data (not the service's fault): invalid text, out-of-range number, too deep. */
export const isDataError = (err: unknown): boolean => {
  const s = sqlState(err);
  return s !== undefined && (s.startsWith("22") || s.startsWith("54"));
};

/** SQLSTATE and the driver's own message (never the query or its parameters), for one log line. */
export function describeDbError(err: unknown): { code?: string; message: string } {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // the innermost error is the driver's (drizzle's wrapper holds "Failed query: … params: …")
  for (let depth = 0; e?.cause && depth < 5; depth++) e = e.cause as typeof e;
  const message = String(e?.message ?? err).slice(0, 200);
  return { code: sqlState(err), message };
}

/**
 * Runs `fn` again after a serialization failure or deadlock, up to `attempts` times in all, with a
 * short randomised backoff so that the transactions that collided do not collide again.
 */
export async function retryTransient<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, 2 ** i + Math.random() * 10 * i));
    }
  }
}
