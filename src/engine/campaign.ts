/**
 * A campaign as it lives in memory: its configuration, its arms, the strategy state built from the
 * persisted sufficient statistics, and `pending` — the decision increments queued but not yet
 * committed. Invariant (under the engine's mutex): stats[i] = database totals + pending[i].
 */
import type { ArmStats, BaseState, Strategy } from "../../strategies/types.ts";
import type { CampaignRow } from "../store/campaigns.ts";
import type { ArmRowStatus } from "../store/schema.ts";
import type { BudgetLedger } from "../budget/ledger.ts";
import type { Encoder } from "./registry.ts";
import { hoursOf, type ArmBuckets } from "./buckets.ts";
import { addStats, fromDatabase, zeroStats } from "./stats.ts";
import { TimedStats, type TimedOptions } from "./timed.ts";

export interface LiveArm {
  key: string;
  name: string | null;
  cost: number;
  /** Optional spend caps of the arm (src/budget/). */
  totalBudget?: number | null;
  dailyBudget?: number | null;
  metadata: Record<string, unknown>;
  status: ArmRowStatus;
  /** Index in state.arms (= arms.position). */
  index: number;
  createdAt: Date;
}

/** A campaign's configuration as stored. */
export type CampaignConfig = CampaignRow;

/** The longest attribution window a campaign may have (the API's validation; learn.ts bounds lookups by it). */
export const MAX_ATTRIBUTION_WINDOW_HOURS = 24 * 366;

export interface LiveCampaign extends CampaignConfig {
  impl: Strategy;
  state: BaseState;
  encoder?: Encoder;
  dim: number;
  arms: LiveArm[];
  armByKey: Map<string, LiveArm>;
  /** All-time totals (arm_stats) + pending: the ledger of stats.ts. */
  stats: ArmStats[];
  /** Created on an arm's first queued decision (stats.ts `Ledger`). */
  pending: (ArmStats | undefined)[];
  /**
   * The hour buckets (database + pending) and the delay model: what the strategy sees is their fold at
   * `now` (delay-aware trials, decay), not the all-time totals.
   */
  timed: TimedStats;
  /**
   * The still-queued trials by hour, so a rebuild from the database can add them back; an arm's entry is
   * created on its first queued trial (most arms of most campaigns never hold one: memory).
   */
  pendingBuckets: (ArmBuckets | undefined)[];
  /** Budgets, pacing and guardrails: the spend ledger and the pacing controller (src/budget/load.ts). */
  budget?: BudgetLedger;
  /** Strategy warnings already logged (live.ts `logWarnings`). */
  loggedWarnings?: Set<string>;
  /** When it was last used (live.ts's use counter): the least recently used leave memory first. */
  lastUsed: number;
  /** Decisions counted in memory whose commit has not settled: never evicted while > 0. */
  unsettled: number;
  /** When (epoch ms) every arm's posterior was last refolded at the current time (live.ts). */
  foldedAt: number;
}

/** The campaign's statistics settings as TimedStats options. */
export function timedOptions(cfg: CampaignConfig): TimedOptions {
  return {
    windowHours: cfg.attributionWindowHours,
    counting: "delay-aware",
    conversionDelay: cfg.conversionDelay ?? undefined,
    decay: cfg.decay ?? undefined,
    compact: false,
  };
}

/** Hands arm `index` its posterior totals: the fold of its buckets at the last `refreshWeights`. */
export function syncPosterior(c: LiveCampaign, index: number): void {
  syncArm(c.impl, c.state, index, c.timed.fold(index));
}

/** Moves the buckets' weights to `nowMs`, and refits the delay model when due (timed.ts `refresh`). */
export function refreshWeights(c: LiveCampaign, nowMs = Date.now(), refit: "due" | "now" = "due"): void {
  c.timed.refresh(hoursOf(nowMs), refit);
}

/** The strategy's params: the campaign's `{type, ...params}` minus type, with the campaign-level floor. */
export function strategyParams(
  strategy: { type: string } & Record<string, unknown>,
  explorationFloor?: number,
): Record<string, unknown> {
  const { type: _type, ...params } = strategy;
  return explorationFloor === undefined ? params : { ...params, explorationFloor };
}

export function toStrategyStatus(s: ArmRowStatus): "active" | "paused" | "removed" {
  return s === "archived" ? "removed" : s;
}

/** Builds the live campaign at the prior, then loads each arm's totals. */
export function buildLive(
  cfg: CampaignConfig,
  impl: Strategy,
  encoder: Encoder | undefined,
  arms: LiveArm[],
  totals: Map<string, ArmStats>,
): LiveCampaign {
  const dim = impl.contextual ? (encoder?.dim ?? 1) : 0;
  const ordered = [...arms].sort((a, b) => a.index - b.index);
  const params = impl.parseParams(strategyParams(cfg.strategy, cfg.explorationFloor));
  const state = impl.init(
    ordered.map((a) => a.key),
    params,
    dim,
  );
  state.explorationFloor = cfg.explorationFloor;
  const live: LiveCampaign = {
    ...cfg,
    impl,
    state,
    encoder: impl.contextual ? encoder : undefined,
    dim,
    arms: ordered,
    armByKey: new Map(ordered.map((a) => [a.key, a])),
    stats: ordered.map(() => zeroStats(dim)),
    pending: new Array(ordered.length),
    timed: new TimedStats(ordered.length, dim, timedOptions(cfg)),
    pendingBuckets: new Array(ordered.length),
    lastUsed: 0,
    unsettled: 0,
    foldedAt: 0,
  };
  refreshWeights(live);
  for (const a of ordered) {
    const t = totals.get(a.key);
    if (t) {
      fromDatabase(live, a.index, t);
      // Until the buckets are read (LiveState.load), the totals count as matured.
      addStats(live.timed.arms[a.index]!.base, t);
      syncPosterior(live, a.index);
    }
    if (a.status !== "active") impl.setArmStatus(state, a.index, toStrategyStatus(a.status));
  }
  return live;
}

/**
 * Hands an arm's totals to the strategy. A model of bounded rewards (Beta–Bernoulli Thompson) refuses
 * totals outside its support, e.g. revenue sums on a `thompson` campaign; those are clamped into
 * 0 ≤ sum ≤ n so the campaign keeps serving (it then learns "earned something" rather than how much —
 * use gaussian_thompson for revenue and profit). The database keeps the exact totals either way.
 */
export function syncArm(impl: Strategy, state: BaseState, index: number, stats: ArmStats): void {
  try {
    impl.setArmStats(state, index, stats);
  } catch (err) {
    if (!(err instanceof Error && err.name === "StrategyParamError")) throw err;
    const n = Math.max(0, stats.n);
    const sum = Math.min(n, Math.max(0, stats.sum));
    impl.setArmStats(state, index, { ...stats, n, sum, sumSq: Math.min(n, Math.max(0, stats.sumSq)) });
  }
}
