import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { betaKlBound, betaTable, normalTable, probMax, studentTable, tableCdf } from "../../strategies/argmax.ts";
import { jStat } from "../../strategies/jstat.ts";

/**
 * Reference P(argmax) for Betas: p_a = ∫ Π_{b≠a} F_b dF_a as a trapezoid–Stieltjes sum on 20,000 uniform
 * nodes plus 2,000 geometric ones near 0 (for shapes < 1), on jstat's incomplete beta only.
 */
function betaRef(al: number[], be: number[]): number[] {
  const K = al.length;
  const M = 20000;
  let lo = 1;
  let hi = 0;
  for (let a = 0; a < K; a++) {
    lo = Math.min(lo, jStat.beta.inv(1e-13, al[a]!, be[a]!));
    hi = Math.max(hi, jStat.beta.inv(1 - 1e-13, al[a]!, be[a]!));
  }
  const xs: number[] = [];
  for (let i = 0; i <= M; i++) xs.push(lo + ((hi - lo) * i) / M);
  for (let i = 0; i <= 2000; i++) xs.push(lo + 1e-14 * 1e12 ** (i / 2000));
  xs.sort((a, b) => a - b);
  const p = new Array(K).fill(0);
  let Fp = al.map((_, a) => jStat.ibeta(xs[0]!, al[a]!, be[a]!));
  for (let i = 1; i < xs.length; i++) {
    const F = al.map((_, a) => jStat.ibeta(xs[i]!, al[a]!, be[a]!));
    for (let a = 0; a < K; a++) {
      let g0 = 1;
      let g1 = 1;
      for (let b = 0; b < K; b++)
        if (b !== a) {
          g0 *= Fp[b]!;
          g1 *= F[b]!;
        }
      p[a] += (F[a]! - Fp[a]!) * 0.5 * (g0 + g1);
    }
    Fp = F;
  }
  const s = p.reduce((t, v) => t + v, 0);
  return p.map((v) => v / s);
}

// The error the strategies' docs state for propensities from argmax.ts.
const STATED = 5e-4;
// And of the tabulated CDFs (32 tangent-grid intervals, cubic Hermite).
const CDF_ERR = 2e-4;

describe("probMax: P(arm's draw is the largest) by integration", () => {
  it.each([
    [
      [2, 3, 5],
      [8, 7, 9],
    ],
    [
      [11, 51, 500, 480],
      [990, 949, 9500, 9520],
    ],
    [
      [1, 3, 20, 25],
      [100, 100, 400, 400],
    ],
    [
      [1, 5000],
      [1, 95000],
    ],
    [
      [1.5, 40, 42, 45, 47, 1],
      [300, 960, 958, 955, 953, 1],
    ],
  ])("Betas α=%j β=%j within the stated error of a fine reference", (al, be) => {
    const p = probMax(
      al.map((a, i) => betaTable(a, be[i]!)),
      new Float64Array(al.length),
    );
    const r = betaRef(al, be);
    for (let a = 0; a < al.length; a++) expect(Math.abs(p[a]! - r[a]!)).toBeLessThan(STATED);
  });

  it("Beta shapes < 1 (incomplete-beta tables): within the stated error", () => {
    const al = [0.5, 2, 0.5];
    const be = [0.5, 3, 20];
    const p = probMax(
      al.map((a, i) => betaTable(a, be[i]!)),
      new Float64Array(3),
    );
    const r = betaRef(al, be);
    for (let a = 0; a < 3; a++) expect(Math.abs(p[a]! - r[a]!)).toBeLessThan(STATED);
  });

  it("two normals: closed form Φ((m1 − m2)/sqrt(s1² + s2²))", () => {
    for (const [m1, s1, m2, s2] of [
      [0, 1, 0.3, 2],
      [1, 0.01, 0.99, 1],
      [-5, 3, 2, 0.5],
    ] as const) {
      const p = probMax([normalTable(m1, s1), normalTable(m2, s2)], new Float64Array(2));
      expect(Math.abs(p[0]! - jStat.normal.cdf((m1 - m2) / Math.hypot(s1, s2), 0, 1))).toBeLessThan(STATED);
    }
  });

  it("Student-t tables reproduce jstat's CDF (ν = 2, 5, 60), including the heavy tails", () => {
    for (const nu of [2, 5, 60]) {
      const t = studentTable(3, 2, nu);
      for (const z of [-200, -30, -3, -1, 0, 0.5, 2, 10, 500])
        expect(Math.abs(tableCdf(t, 3 + 2 * z) - jStat.studentt.cdf(z, nu))).toBeLessThan(CDF_ERR);
    }
  });

  it("Beta tables reproduce jstat's CDF", () => {
    for (const [a, b] of [
      [1, 1],
      [2, 8],
      [1, 100],
      [5000, 95000],
      [0.5, 3],
    ] as const) {
      const t = betaTable(a, b);
      for (const u of [0.001, 0.05, 0.3, 0.5, 0.9, 0.999]) {
        const x = jStat.beta.inv(u, a, b);
        expect(Math.abs(tableCdf(t, x) - u)).toBeLessThan(CDF_ERR);
      }
    }
  });

  it("property: sums to 1, non-negative, equivariant under permutation, identical arms share equally", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 4000 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (arms) => {
          const tabs = arms.map(([s, f]) => betaTable(s, f));
          const p = probMax(tabs, new Float64Array(arms.length));
          expect(Math.abs(p.reduce((t, v) => t + v, 0) - 1)).toBeLessThan(1e-12);
          expect(p.every((v) => v >= 0)).toBe(true);
          const rev = probMax([...tabs].reverse(), new Float64Array(arms.length));
          for (let a = 0; a < arms.length; a++) expect(rev[arms.length - 1 - a]).toBeCloseTo(p[a]!, 10);
        },
      ),
      { seed: 7, numRuns: 60 },
    );
    const p = probMax([betaTable(3, 40), betaTable(3, 40), betaTable(3, 40)], new Float64Array(3));
    for (const v of p) expect(Math.abs(v - 1 / 3)).toBeLessThan(1e-9);
  });
});

/**
 * KL(Beta(a, b) ‖ Beta(a2, b2)) by composite Simpson on 40,000 intervals over both densities' mass, every
 * normaliser integrated on the same grid (the closed form's log-gammas would cancel to noise for small steps).
 */
function betaKl(a: number, b: number, a2: number, b2: number): number {
  const lo = Math.min(jStat.beta.inv(1e-15, a, b), jStat.beta.inv(1e-15, a2, b2));
  const hi = Math.min(1 - 1e-15, Math.max(jStat.beta.inv(1 - 1e-15, a, b), jStat.beta.inv(1 - 1e-15, a2, b2)));
  const M = 40000;
  const h = (hi - lo) / M;
  const m = a / (a + b);
  const lu = (x: number, al: number, be: number) =>
    (al - 1) * (Math.log(x) - Math.log(m)) + (be - 1) * (Math.log1p(-x) - Math.log1p(-m));
  let zp = 0;
  let zq = 0;
  let e = 0;
  for (let i = 0; i <= M; i++) {
    const x = lo + i * h;
    const w = i === 0 || i === M ? 1 : i % 2 ? 4 : 2;
    const lp = lu(x, a, b);
    const lq = lu(x, a2, b2);
    const p = Math.exp(lp);
    zp += w * p;
    zq += w * Math.exp(lq);
    e += w * p * (lp - lq);
  }
  return e / zp - Math.log(zp) + Math.log(zq);
}

describe("betaKlBound: an upper bound on the KL divergence of two Betas, from elementary functions", () => {
  it("is never below the KL divergence (property, shapes 1 to 400, steps up to half a shape)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1.05, max: 400, noNaN: true }),
        fc.double({ min: 1.05, max: 400, noNaN: true }),
        fc.double({ min: -0.5, max: 0.5, noNaN: true }),
        fc.double({ min: -0.5, max: 0.5, noNaN: true }),
        (a, b, fa, fb) => {
          const a2 = Math.max(1.05, a * (1 + fa * Math.abs(fa)));
          const b2 = Math.max(1.05, b * (1 + fb * Math.abs(fb)));
          const kl = betaKl(a, b, a2, b2);
          expect(betaKlBound(a, b, a2, b2)).toBeGreaterThanOrEqual(kl * (1 - 1e-6) - 1e-12);
        },
      ),
      { seed: 20261202, numRuns: 60 },
    );
  });

  it("is close to it for the small steps it is used for (a fraction of a trial on a learned arm)", () => {
    for (const [a, b, a2, b2] of [
      [20, 400, 20, 401],
      [20, 400, 20.3, 400.7],
      [3, 30, 3, 30.5],
      [150, 2000, 150.2, 2000],
    ] as const) {
      const kl = betaKl(a, b, a2, b2);
      const bound = betaKlBound(a, b, a2, b2);
      expect(bound).toBeGreaterThanOrEqual(kl);
      expect(bound).toBeLessThan(1.5 * kl);
    }
  });

  it("is zero for the same posterior and exact on the shape-free part: symmetric steps of a Beta(1, 1)", () => {
    expect(betaKlBound(7, 9, 7, 9)).toBe(0);
    // Beta(1, 1) → Beta(1, 1 + h): ½h²(1/1 + 1/1²) − ½h²/(2 + h)
    const h = 1e-3;
    expect(betaKlBound(1, 1, 1, 1 + h)).toBeCloseTo(0.5 * h * h * 2 - (0.5 * h * h) / (2 + h), 15);
    expect(betaKl(1, 1, 1, 1 + h)).toBeLessThanOrEqual(betaKlBound(1, 1, 1, 1 + h));
  });
});
