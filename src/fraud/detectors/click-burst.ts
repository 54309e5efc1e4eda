/**
 * Click bursts per ip / publisher / placement (SIVT): clicks per minute in the scan window against the
 * entity's own baseline rate.
 *
 * The baseline λ is a gamma–Poisson posterior mean, λ = (c + a₀) / (m + b₀): the entity's baseline clicks c
 * over m baseline minutes, shrunk towards the pooled per-entity rate with b₀ pseudo-minutes, so a brand-new
 * source still has a rate. A minute with x clicks is tested by the Poisson upper tail P(X ≥ x | λ) at the
 * Bonferroni level α / (entities × window minutes). The flag also needs an effect size (x ≥ minRatio · λ
 * and x ≥ minCount), because real traffic is overdispersed relative to Poisson (diurnal swings, campaigns).
 * The statistic is the peak minute's count and the threshold the smallest count that would have been
 * flagged (the critical value), so a person reads "62 clicks in a minute, flagged from 9".
 * The baseline is only as long as the traffic seen (a campaign that started 20 minutes ago has 20 minutes
 * of baseline), and without `minBaselineMinutes` of it, or without any baseline click of the entity type,
 * nothing is tested: a new campaign's first clicks are no burst.
 */
import { poissonUpperTail } from "../../reports/stats.ts";
import { bonferroni, type EntityType, type Finding, type TrafficEvent, type Window } from "../types.ts";

export const DETECTOR = "click_burst";

export interface ClickBurstOptions {
  /** Minutes before the window that form the baseline. */
  baselineMinutes: number;
  alpha: number;
  minCount: number;
  minRatio: number;
  /** Pseudo-minutes of the pooled prior. */
  priorMinutes: number;
  /** Less baseline than this (traffic started recently) and the entity type is not tested. */
  minBaselineMinutes: number;
  entityTypes: readonly ("ip" | "publisher" | "placement")[];
}

export const CLICK_BURST_DEFAULTS: ClickBurstOptions = {
  baselineMinutes: 300,
  alpha: 0.01,
  minCount: 8,
  minRatio: 4,
  priorMinutes: 60,
  minBaselineMinutes: 30,
  entityTypes: ["ip", "publisher", "placement"],
};

const MINUTE = 60_000;

function entityOf(e: TrafficEvent, t: "ip" | "publisher" | "placement"): string | null {
  return t === "ip" ? e.ip : t === "publisher" ? e.publisher : e.placement;
}

/** Smallest x with P(X ≥ x | λ) ≤ level (binary search; the tail decreases in x). */
export function poissonCriticalCount(lambda: number, level: number): number {
  let lo = Math.max(1, Math.floor(lambda));
  let hi = lo;
  while (poissonUpperTail(hi, lambda) > level) hi *= 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (poissonUpperTail(mid, lambda) <= level) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function detectClickBursts(
  events: readonly TrafficEvent[],
  window: Window,
  opts: ClickBurstOptions = CLICK_BURST_DEFAULTS,
): Finding[] {
  let first = Infinity;
  for (const e of events) if (e.occurredAt < first) first = e.occurredAt;
  const baseStart = Math.max(window.start - opts.baselineMinutes * MINUTE, Math.floor(first / MINUTE) * MINUTE);
  const baselineMinutes = (window.start - baseStart) / MINUTE;
  if (!(baselineMinutes >= opts.minBaselineMinutes)) return [];
  const windowMinutes = Math.max(1, Math.ceil((window.end - window.start) / MINUTE));
  const out: Finding[] = [];
  for (const type of opts.entityTypes) {
    const baseline = new Map<string, number>();
    const minutes = new Map<string, Map<number, string[]>>();
    for (const e of events) {
      if (e.type !== "click" || e.occurredAt < baseStart || e.occurredAt >= window.end) continue;
      const k = entityOf(e, type);
      if (k === null) continue;
      if (e.occurredAt < window.start) {
        baseline.set(k, (baseline.get(k) ?? 0) + 1);
        continue;
      }
      let m = minutes.get(k);
      if (!m) minutes.set(k, (m = new Map()));
      const minute = Math.floor((e.occurredAt - window.start) / MINUTE);
      let ids = m.get(minute);
      if (!ids) m.set(minute, (ids = []));
      ids.push(e.id);
    }
    const entities = new Set([...baseline.keys(), ...minutes.keys()]);
    if (minutes.size === 0) continue;
    let baseTotal = 0;
    for (const c of baseline.values()) baseTotal += c;
    if (baseTotal === 0) continue;
    const pooledRate = baseTotal / Math.max(1, entities.size * baselineMinutes);
    const a0 = pooledRate * opts.priorMinutes;
    const level = bonferroni(opts.alpha, entities.size * windowMinutes);
    for (const [k, m] of minutes) {
      const lambda = ((baseline.get(k) ?? 0) + a0) / (baselineMinutes + opts.priorMinutes);
      const critical = Math.max(
        opts.minCount,
        Math.ceil(opts.minRatio * lambda),
        lambda > 0 ? poissonCriticalCount(lambda, level) : 1,
      );
      let peak = 0;
      let peakMinute = 0;
      const ids: string[] = [];
      const flaggedMinutes: number[] = [];
      for (const [minute, list] of m) {
        if (list.length > peak) (peak = list.length), (peakMinute = minute);
        if (list.length >= critical) flaggedMinutes.push(minute);
      }
      if (flaggedMinutes.length === 0) continue;
      // A burst rarely respects minute boundaries: a neighbouring minute of a flagged one is part of the
      // burst when it is itself unusual at the uncorrected level (α, not α/m) and holds at least 2 clicks.
      const burst = new Set(flaggedMinutes);
      for (const minute of flaggedMinutes)
        for (const nb of [minute - 1, minute + 1]) {
          const c = m.get(nb)?.length ?? 0;
          if (c >= 2 && !burst.has(nb) && poissonUpperTail(c, lambda) <= opts.alpha) burst.add(nb);
        }
      for (const minute of [...burst].sort((a, b) => a - b)) ids.push(...m.get(minute)!);
      out.push({
        detector: DETECTOR,
        entityType: type as EntityType,
        entity: k,
        category: "SIVT",
        statistic: peak,
        threshold: critical,
        windowStart: window.start,
        windowEnd: window.end,
        details: {
          baselineRatePerMinute: lambda,
          pValue: poissonUpperTail(peak, lambda),
          alphaAdjusted: level,
          peakMinuteStart: new Date(window.start + peakMinute * MINUTE).toISOString(),
          flaggedMinutes: flaggedMinutes.length,
          burstMinutes: burst.size,
        },
        eventIds: ids,
      });
    }
  }
  return out;
}
