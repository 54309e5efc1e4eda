/**
 * The fetch under the typed client: a timeout per attempt, and retries with exponential backoff (full
 * jitter) that honour the server's Retry-After.
 *
 * What is retried:
 * - an answer 429 (rate_limited) or 503 (unavailable), for every request: the server refused it before
 *   acting (a decision whose commit failed is not logged), so sending it again is safe;
 * - a connection that could not be opened (ECONNREFUSED and the like: nothing was sent), for every request;
 * - a timeout or a connection lost mid-request, only for requests that are safe to repeat: GET, DELETE,
 *   PATCH (it sets state), POST /v1/events (events are idempotent by id) and POST …/decisions/import
 *   (idempotent by decision id: a second send answers `duplicate`). A decision (POST …/decisions,
 *   /v1/decisions/batch) or a creation is NOT retried then: the server may have logged it, and a second
 *   decision would be a second logged trial. The caller gets `timeout` / `network` and decides.
 *
 * Keep-alive: Node's fetch (undici) keeps connections open and pools them per origin by default; pass
 * your own `fetch` (e.g. bound to an undici Agent) to tune the pool.
 */
import { AdbanditError, retryAfterMsOf } from "./errors.ts";

export type Fetch = (request: Request) => Promise<Response>;

export interface RetryInfo {
  method: string;
  url: string;
  /** The attempt that failed (1 = the first). */
  attempt: number;
  status?: number;
  error?: AdbanditError;
  delayMs: number;
}

export interface TransportOptions {
  /** Milliseconds to wait for the answer's headers, per attempt (default 10 000). Bodies stream freely. */
  timeoutMs?: number;
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** First backoff in ms (default 200); doubles per retry, with full jitter. */
  backoffMs?: number;
  /** Longest backoff in ms (default 5 000). */
  maxBackoffMs?: number;
  /** A Retry-After longer than this (ms, default 30 000) is not waited for: the error is returned at once. */
  maxRetryAfterMs?: number;
  fetch?: Fetch;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests; in [0, 1). */
  random?: () => number;
  onRetry?: (info: RetryInfo) => void;
}

const sleepFor = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Requests that may be sent twice without a second effect. */
export function repeatable(method: string, url: string): boolean {
  if (method === "GET" || method === "HEAD" || method === "DELETE" || method === "PATCH") return true;
  if (method !== "POST") return false;
  const path = new URL(url).pathname.replace(/\/+$/, "");
  return path.endsWith("/v1/events") || /\/v1\/campaigns\/[^/]+\/decisions\/import$/.test(path);
}

/** Errors that mean the connection never opened, so nothing reached the server. */
function notSent(err: unknown): boolean {
  const code = (err as { cause?: { code?: string } })?.cause?.code ?? (err as { code?: string })?.code;
  return code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "UND_ERR_CONNECT_TIMEOUT";
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const msg = (err as Error)?.message ?? String(err);
  return cause?.code ? `${msg} (${cause.code})` : cause?.message ? `${msg}: ${cause.message}` : msg;
}

export function retryingFetch(opts: TransportOptions = {}): Fetch {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const retries = opts.retries ?? 3;
  const backoff = opts.backoffMs ?? 200;
  const maxBackoff = opts.maxBackoffMs ?? 5_000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 30_000;
  const base = opts.fetch ?? ((r: Request) => fetch(r));
  const sleep = opts.sleep ?? sleepFor;
  const random = opts.random ?? Math.random;

  return async (req) => {
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
    const safe = repeatable(req.method, req.url);
    for (let attempt = 1; ; attempt++) {
      const timer = new AbortController();
      const t = setTimeout(() => timer.abort(), timeoutMs);
      const signal = AbortSignal.any([req.signal, timer.signal]);
      let res: Response | undefined;
      let failure: AdbanditError | undefined;
      let again = false;
      try {
        res = await base(new Request(req.url, { method: req.method, headers: req.headers, body, signal }));
      } catch (err) {
        if (req.signal.aborted) throw err;
        failure = timer.signal.aborted
          ? new AdbanditError(
              "timeout",
              `${req.method} ${req.url}: no answer within ${timeoutMs} ms`,
              0,
              [],
              undefined,
              {
                cause: err,
              },
            )
          : new AdbanditError("network", `${req.method} ${req.url}: ${describe(err)}`, 0, [], undefined, {
              cause: err,
            });
        again = safe || notSent(err);
      } finally {
        clearTimeout(t);
      }
      if (res && res.status !== 429 && res.status !== 503) return res;
      if (attempt > retries) {
        if (res) return res;
        throw failure;
      }
      let delay = Math.min(maxBackoff, backoff * 2 ** (attempt - 1)) * random();
      if (res) {
        const after = retryAfterMsOf(res.headers);
        if (after !== undefined) {
          if (after > maxRetryAfter) return res;
          delay = after;
        }
        await res.body?.cancel();
      } else if (!again) throw failure;
      opts.onRetry?.({
        method: req.method,
        url: req.url,
        attempt,
        status: res?.status,
        error: failure,
        delayMs: delay,
      });
      await sleep(delay);
    }
  };
}
