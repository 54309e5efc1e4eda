/**
 * Diagnostics of an evaluation, from the real importance weights w_i = π(a_i|x_i)/p_i (not 1/p_min):
 * mean and maximum weight (with its row), effective sample size ESS = (Σ w)² / Σ w² (Kong 1992), a log-scale
 * histogram of the weights, the rows carrying most of the IPS estimate (share of Σ w r, with their line
 * numbers), propensity extremes, and clipping. Warnings state the figures.
 */
import type { Prepared, RowFigures } from "./evaluate.ts";
import type { LogRow } from "./logs.ts";

/** Where a row came from: its line in the file (null for rows read from the service), its decision id. */
export interface RowRef {
  line: number | null;
  decisionId?: string;
  /** 1-based row index, for rows without a line. */
  index?: number;
}

export const rowRef = (r: LogRow, i: number): RowRef => ({
  line: r.line ?? null,
  ...(r.decisionId !== undefined && { decisionId: r.decisionId }),
  ...(r.line === undefined && { index: i + 1 }),
});

export const describeRef = (r: RowRef | null) =>
  r === null
    ? "–"
    : r.line !== null
      ? `line ${r.line}`
      : r.decisionId !== undefined
        ? `decision ${r.decisionId}`
        : `row ${r.index}`;

export interface TopRow extends RowRef {
  action: string;
  propensity: number;
  weight: number;
  reward: number;
  /** Share of the IPS numerator Σ w r carried by this row. */
  share: number;
}

export interface Diagnostics {
  propensity: {
    min: number;
    max: number;
    minRow: RowRef | null;
    maxRow: RowRef | null;
    missing: number;
    tiny: number;
    zero: number;
  };
  weights: {
    mean: number;
    max: number;
    maxRow: RowRef | null;
    ess: number;
    essShare: number;
    /** Rows with weight 0 (the policy never plays the logged action there). */
    zero: number;
    /** Counts of positive weights in [edges[i], edges[i+1]) (log-spaced, half decades). */
    histogram: { edges: number[]; counts: number[] };
  };
  /** The rows with the largest |w r| (share of the IPS estimate), at most 10; `share` sums to `topRows.share`. */
  topRows: { share: number; rows: TopRow[] };
  clip: { at: number; rows: number } | null;
  warnings: string[];
}

const TOP = 10;
const sig = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x));

/** Indices of the (at most) k largest positive scores, largest first, in one pass. */
function topIndices(n: number, k: number, score: (j: number) => number): number[] {
  const top: number[] = [];
  for (let j = 0; j < n; j++) {
    const s = score(j);
    if (!(s > 0)) continue;
    if (top.length === k && s <= score(top[k - 1])) continue;
    let i = top.length === k ? k - 1 : top.length;
    if (top.length < k) top.push(j);
    while (i > 0 && score(top[i - 1]) < s) {
      top[i] = top[i - 1];
      i--;
    }
    top[i] = j;
  }
  return top;
}

export function diagnose(d: Prepared, f: RowFigures, clip: number | null, tiny: number): Diagnostics {
  const n = d.n;
  let pMin = Infinity;
  let pMax = -Infinity;
  let iMin = -1;
  let iMax = -1;
  let nTiny = 0;
  let sw = 0;
  let sw2 = 0;
  let wMax = -Infinity;
  let iw = -1;
  let zero = 0;
  let clipped = 0;
  let swr = 0;
  for (let j = 0; j < n; j++) {
    const p = d.P[j];
    if (p < pMin) {
      pMin = p;
      iMin = j;
    }
    if (p > pMax) {
      pMax = p;
      iMax = j;
    }
    if (p < tiny) nTiny++;
    const w = f.w[j];
    sw += w;
    sw2 += w * w;
    if (w > wMax) {
      wMax = w;
      iw = j;
    }
    if (w === 0) zero++;
    if (clip !== null && w > clip) clipped++;
    swr += (clip === null ? w : Math.min(w, clip)) * d.R[j];
  }
  const ess = sw2 > 0 ? (sw * sw) / sw2 : 0;
  const mean = sw / n;

  // Histogram over half decades of the positive weights.
  let wPosMin = Infinity;
  for (let j = 0; j < n; j++) if (f.w[j] > 0 && f.w[j] < wPosMin) wPosMin = f.w[j];
  const any = wPosMin < Infinity;
  const lo = any ? Math.floor(2 * Math.log10(wPosMin)) : 0;
  const hi = any ? Math.floor(2 * Math.log10(wMax)) + 1 : 1;
  const edges = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** ((lo + i) / 2));
  const counts: number[] = new Array(hi - lo).fill(0);
  for (let j = 0; j < n; j++)
    if (f.w[j] > 0) counts[Math.min(hi - lo - 1, Math.max(0, Math.floor(2 * Math.log10(f.w[j])) - lo))]++;

  // Rows carrying the IPS estimate.
  const order = topIndices(n, TOP, (j) => Math.abs(f.w[j] * d.R[j]));
  const rows: TopRow[] = order.map((j) => {
    const wc = clip === null ? f.w[j] : Math.min(f.w[j], clip);
    return {
      ...d.refs[j],
      action: d.actions[d.A[j]],
      propensity: d.P[j],
      weight: f.w[j],
      reward: d.R[j],
      share: swr !== 0 ? (wc * d.R[j]) / swr : 0,
    };
  });
  const topShare = rows.reduce((s, r) => s + r.share, 0);

  const warnings: string[] = [];
  const ref = (j: number) => (j < 0 ? "–" : describeRef(d.refs[j]));
  if (nTiny > 0)
    warnings.push(
      `${nTiny} rows have propensities below ${tiny} (min ${sig(pMin)} at ${ref(iMin)}): expect wide intervals`,
    );
  if (wMax > 20 || ess < 0.1 * n)
    warnings.push(
      `importance weights π/p: mean ${sig(mean)}, max ${sig(wMax)} at ${ref(iw)} (propensity ${sig(d.P[iw])}, π ${sig(f.pi[iw])}); effective sample size ${sig(ess)} of ${n} rows (${sig((100 * ess) / n)}%)`,
    );
  if (rows.length > 0 && n > 5 * TOP && Math.abs(topShare) > 0.5)
    warnings.push(
      `the ${rows.length} heaviest rows carry ${sig(100 * topShare)}% of the IPS estimate (${rows.map((r) => describeRef(r)).join(", ")}): it rests on a few rows`,
    );
  if (ess < 0.01 * n)
    warnings.push(
      `effective sample size ${ess.toFixed(1)} is under 1 % of ${n} rows: the target policy is far from the logging policy`,
    );
  if (clip !== null)
    warnings.push(
      `importance weights clipped at ${clip}: ${clipped} rows changed; ips, snips and the DR family are biased (usually downwards) by clipping`,
    );
  return {
    propensity: {
      min: pMin,
      max: pMax,
      minRow: iMin < 0 ? null : d.refs[iMin],
      maxRow: iMax < 0 ? null : d.refs[iMax],
      missing: d.counts.missing,
      tiny: nTiny,
      zero: d.counts.zero,
    },
    weights: {
      mean,
      max: wMax,
      maxRow: iw < 0 ? null : d.refs[iw],
      ess,
      essShare: ess / n,
      zero,
      histogram: { edges, counts },
    },
    topRows: { share: topShare, rows },
    clip: clip === null ? null : { at: clip, rows: clipped },
    warnings,
  };
}
