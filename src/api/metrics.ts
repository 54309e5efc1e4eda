/**
 * Prometheus metrics (prom-client), one registry per service instance so that several services in
 * one process (tests) do not collide: decisions, events by status, HTTP latency per route.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  decisions: Counter<string>;
  commitBatch: Histogram<string>;
  events: Counter<"status">;
  httpDuration: Histogram<"method" | "route" | "status">;
  /** Campaigns in memory and evicted so far (src/engine/live.ts), read when scraped. */
  liveCampaigns: Gauge<string>;
  evictedCampaigns: Gauge<string>;
  /** Where the live gauges read from (set once the engine runs). */
  live: { campaigns: () => number; evictions: () => number };
}

export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry });
  const live = { campaigns: () => 0, evictions: () => 0 };
  return {
    registry,
    live,
    liveCampaigns: new Gauge({
      name: "adbandit_live_campaigns",
      help: "Campaigns in memory (at most ADBANDIT_MAX_LIVE_CAMPAIGNS).",
      registers: [registry],
      collect() {
        this.set(live.campaigns());
      },
    }),
    evictedCampaigns: new Gauge({
      name: "adbandit_evicted_campaigns",
      help: "Campaigns that left memory since start (least recently used, over the budget).",
      registers: [registry],
      collect() {
        this.set(live.evictions());
      },
    }),
    decisions: new Counter({
      name: "adbandit_decisions_total",
      help: "Decisions served and logged.",
      registers: [registry],
    }),
    commitBatch: new Histogram({
      name: "adbandit_decision_commit_batch_size",
      help: "Decisions per group commit (one INSERT + arm_stats upsert).",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
      registers: [registry],
    }),
    events: new Counter({
      name: "adbandit_events_total",
      help: "Events received, by status (accepted, duplicate, rejected, invalid).",
      labelNames: ["status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "adbandit_http_request_duration_seconds",
      help: "HTTP request latency by route.",
      labelNames: ["method", "route", "status"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
