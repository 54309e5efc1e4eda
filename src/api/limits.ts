/**
 * Bounded memory for request bodies: a size limit per route (small where a body is small, sized for
 * the 1000-item batches), and a process-wide budget of body bytes being read or handled at once
 * (`BodyBudget`): a request waits for its share before its body is read, so 64 concurrent 4 MiB
 * bodies cost at most the budget (plus the parsed objects of the requests it admits), never 64 × 4 MiB.
 * Authentication happens before either (app.ts), so an unauthenticated body is never read.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Body limits in bytes, first match wins (method, path pattern). */
export const BODY_LIMITS: readonly { method: string; path: RegExp; bytes: number; what: string }[] = [
  { method: "POST", path: /^\/v1\/workspaces\/?$/, bytes: 4 * KiB, what: "POST /v1/workspaces" },
  { method: "POST", path: /^\/v1\/keys\/?$/, bytes: 4 * KiB, what: "POST /v1/keys" },
  { method: "POST", path: /^\/v1\/campaigns\/[^/]+\/decisions\/?$/, bytes: 64 * KiB, what: "one decision" },
  { method: "POST", path: /^\/v1\/decisions\/batch\/?$/, bytes: 4 * MiB, what: "a decision batch (≤ 1000)" },
  { method: "POST", path: /^\/v1\/events\/?$/, bytes: 2 * MiB, what: "an event batch (≤ 1000)" },
  {
    method: "POST",
    path: /^\/v1\/campaigns\/[^/]+\/decisions\/import\/?$/,
    bytes: 4 * MiB,
    what: "a decision import (≤ 1000, contexts like a decision batch)",
  },
  { method: "POST", path: /^\/v1\/campaigns\/?$/, bytes: 1 * MiB, what: "a campaign with its arms" },
  { method: "*", path: /^\/v1\//, bytes: 256 * KiB, what: "any other body" },
];

export const MAX_BODY_BYTES = Math.max(...BODY_LIMITS.map((l) => l.bytes));

export function bodyLimitFor(method: string, path: string): number {
  for (const l of BODY_LIMITS) if ((l.method === "*" || l.method === method) && l.path.test(path)) return l.bytes;
  return BODY_LIMITS[BODY_LIMITS.length - 1]!.bytes;
}

/**
 * A FIFO semaphore over bytes. `acquire(n)` resolves once n bytes fit in the budget (a request larger
 * than the whole budget runs alone); `release(n)` gives them back. Waiting requests hold no body memory:
 * their sockets are not read, so TCP backpressure holds the rest.
 */
export class BodyBudget {
  private used = 0;
  private readonly waiting: { n: number; go: () => void }[] = [];

  constructor(readonly bytes: number) {}

  get inUse(): number {
    return this.used;
  }

  acquire(n: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(n)) {
      this.used += n;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiting.push({ n, go }));
  }

  release(n: number): void {
    this.used -= n;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.n)) {
      const w = this.waiting.shift() as { n: number; go: () => void };
      this.used += w.n;
      w.go();
    }
  }

  private fits(n: number): boolean {
    return this.used === 0 || this.used + n <= this.bytes;
  }
}

export interface RateLimit {
  /** Sustained requests per second per workspace. */
  perSecond: number;
  /** Bucket size: requests a workspace may send at once after being idle. */
  burst: number;
}

/**
 * Per-workspace token buckets (one request = one token; refilled continuously at `perSecond`, up to
 * `burst`). A token bucket rather than hono-rate-limiter: that library counts fixed windows, which lets
 * twice the limit through across a window edge and has no burst parameter. In memory, per replica: with
 * R replicas behind a balancer a workspace gets up to R × the limit.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes a token for `key`: 0 if granted, else the seconds until one is available. */
  take(key: string): number {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= 100_000) this.evictFull(t);
      b = { tokens: this.limit.burst, at: t };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.perSecond);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.limit.perSecond;
  }

  /** Drops the buckets that have refilled (they would start full anyway). */
  private evictFull(t: number): void {
    for (const [k, b] of this.buckets)
      if (b.tokens + ((t - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(k);
  }
}
