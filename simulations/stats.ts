/**
 * Summaries across repetitions: mean, sample sd, the 5–95 % spread of the repetitions, and a 95 %
 * confidence interval of the mean (Student t, jStat quantile). Bands over time use the same spread.
 */
import { mean, quantileSorted, sampleStandardDeviation } from "simple-statistics";
import { jStat } from "./jstat.ts";

export interface Summary {
  mean: number;
  sd: number;
  p05: number;
  p95: number;
  ciLow: number;
  ciHigh: number;
  n: number;
}

export function summarize(xs: ArrayLike<number>): Summary {
  const v = Array.from(xs).filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, sd: NaN, p05: NaN, p95: NaN, ciLow: NaN, ciHigh: NaN, n: 0 };
  const m = mean(v);
  const sd = n > 1 ? sampleStandardDeviation(v) : 0;
  const sorted = v.slice().sort((a, b) => a - b);
  const half = n > 1 ? tQuantile(0.975, n - 1) * (sd / Math.sqrt(n)) : 0;
  return {
    mean: m,
    sd,
    p05: quantileSorted(sorted, 0.05),
    p95: quantileSorted(sorted, 0.95),
    ciLow: m - half,
    ciHigh: m + half,
    n,
  };
}

function tQuantile(p: number, df: number): number {
  return jStat.studentt.inv(p, df);
}

export interface Band {
  mean: number[];
  p05: number[];
  p95: number[];
}

/** Pointwise mean and 5–95 % spread of several equally long series. */
export function band(series: ArrayLike<number>[]): Band {
  const len = series[0]?.length ?? 0;
  const out: Band = { mean: [], p05: [], p95: [] };
  const col = new Array<number>(series.length);
  for (let i = 0; i < len; i++) {
    for (let r = 0; r < series.length; r++) col[r] = series[r][i];
    const finite = col.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    if (finite.length === 0) {
      out.mean.push(NaN);
      out.p05.push(NaN);
      out.p95.push(NaN);
      continue;
    }
    out.mean.push(mean(finite));
    out.p05.push(quantileSorted(finite, 0.05));
    out.p95.push(quantileSorted(finite, 0.95));
  }
  return out;
}
