/**
 * Rounding of the figures a report hands out, so nobody reads 16 digits of float noise: integers stay
 * exact; a number of magnitude 1 or more keeps 2 decimals (money, ROAS, CPA: 1234.57); a smaller one keeps 4
 * significant digits (rates, shares, probabilities: 0.001235, 0.9712). Applied to every number of a JSON
 * value; the computations themselves keep full precision.
 */
export function roundFigure(x: number): number {
  if (!Number.isFinite(x) || Number.isInteger(x)) return x;
  if (Math.abs(x) >= 1) return Math.round(x * 100) / 100;
  return Number(x.toPrecision(4));
}

/** A copy of `v` with every number rounded by `roundFigure` (dates and strings untouched). */
export function roundFigures<T>(v: T): T {
  if (typeof v === "number") return roundFigure(v) as T;
  if (Array.isArray(v)) return v.map(roundFigures) as T;
  if (v && typeof v === "object" && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = roundFigures(x);
    return out as T;
  }
  return v;
}
