/**
 * Arithmetic on `ArmStats` (strategies/types.ts): the commutative sufficient statistics of an arm.
 * A delta is an ArmStats too; adding deltas in any order gives the same totals, which is what lets
 * several processes share one database.
 */
import type { ArmStats } from "../../strategies/types.ts";

export const zeroStats = (dim: number): ArmStats =>
  dim > 0
    ? { n: 0, sum: 0, sumSq: 0, xx: new Array(dim * dim).fill(0), xr: new Array(dim).fill(0) }
    : { n: 0, sum: 0, sumSq: 0 };

/** target += sign · delta (arrays element-wise; missing arrays count as zeros). */
export function addStats(target: ArmStats, delta: ArmStats, sign = 1): void {
  target.n += sign * delta.n;
  target.sum += sign * delta.sum;
  target.sumSq += sign * delta.sumSq;
  if (delta.xx && target.xx) for (let i = 0; i < delta.xx.length; i++) target.xx[i] += sign * delta.xx[i];
  if (delta.xr && target.xr) for (let i = 0; i < delta.xr.length; i++) target.xr[i] += sign * delta.xr[i];
}

/** x xᵀ added into a row-major dim × dim array. */
export function addOuter(xx: number[], x: ArrayLike<number>): void {
  const d = x.length;
  for (let i = 0; i < d; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) xx[row + j] += xi * x[j];
  }
}

export function cloneStats(s: ArmStats): ArmStats {
  return {
    n: s.n,
    sum: s.sum,
    sumSq: s.sumSq,
    ...(s.xx ? { xx: s.xx.slice() } : {}),
    ...(s.xr ? { xr: s.xr.slice() } : {}),
  };
}

/** A row of arm_stats as read back (arrays may be null before the first contextual increment). */
export function fromRow(
  r: { n: number; sum: number; sum_sq: number; xx: number[] | null; xr: number[] | null },
  dim: number,
): ArmStats {
  const s = zeroStats(dim);
  s.n = Number(r.n);
  s.sum = Number(r.sum);
  s.sumSq = Number(r.sum_sq);
  if (dim > 0) {
    if (r.xx && r.xx.length === dim * dim) s.xx = r.xx.map(Number);
    if (r.xr && r.xr.length === dim) s.xr = r.xr.map(Number);
  }
  return s;
}
