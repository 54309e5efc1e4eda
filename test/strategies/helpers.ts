/** Shared test helpers: KS statistic, chi-square critical values (Wilson–Hilferty), seeded draws. */
import { jStat } from "../../strategies/jstat.ts";

/** Two-sided Kolmogorov–Smirnov statistic of a sample against a CDF. */
export function ksStatistic(sample: number[], cdf: (x: number) => number): number {
  const s = [...sample].sort((a, b) => a - b);
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const F = cdf(s[i]!);
    d = Math.max(d, Math.abs(F - i / n), Math.abs((i + 1) / n - F));
  }
  return d;
}

/** Asymptotic KS critical value at level α: sqrt(−ln(α/2)/2)/sqrt(n). */
export function ksCritical(n: number, alpha: number): number {
  return Math.sqrt(-Math.log(alpha / 2) / 2) / Math.sqrt(n);
}

/** Chi-square goodness of fit of counts against probabilities; returns [statistic, critical value at α]. Bins with expected < 5 are pooled. */
export function chiSquare(counts: number[], probs: ArrayLike<number>, alpha: number): [number, number] {
  const n = counts.reduce((s, c) => s + c, 0);
  let stat = 0;
  let bins = 0;
  let poolE = 0;
  let poolO = 0;
  for (let i = 0; i < counts.length; i++) {
    const e = probs[i]! * n;
    if (e < 5) {
      poolE += e;
      poolO += counts[i]!;
      continue;
    }
    stat += ((counts[i]! - e) * (counts[i]! - e)) / e;
    bins++;
  }
  if (poolE > 0) {
    stat += ((poolO - poolE) * (poolO - poolE)) / Math.max(poolE, 1e-12);
    bins++;
  }
  const df = Math.max(1, bins - 1);
  return [stat, jStat.chisquare.inv(1 - alpha, df)];
}
