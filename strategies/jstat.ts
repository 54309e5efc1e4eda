/**
 * jstat, typed for what strategies/ uses: densities, CDFs and quantiles (never its samplers, which
 * call Math.random). Loaded through createRequire with a local type, so no global `declare module`
 * can clash with another folder's.
 */
import { createRequire } from "node:module";

export interface JStatSubset {
  ibeta(x: number, a: number, b: number): number;
  betaln(a: number, b: number): number;
  gammaln(x: number): number;
  beta: {
    cdf(x: number, a: number, b: number): number;
    pdf(x: number, a: number, b: number): number;
    inv(p: number, a: number, b: number): number;
  };
  gamma: { cdf(x: number, shape: number, scale: number): number; inv(p: number, shape: number, scale: number): number };
  normal: { cdf(x: number, mean: number, sd: number): number; inv(p: number, mean: number, sd: number): number };
  chisquare: { cdf(x: number, dof: number): number; inv(p: number, dof: number): number };
  studentt: {
    cdf(x: number, dof: number): number;
    inv(p: number, dof: number): number;
    pdf(x: number, dof: number): number;
  };
}

export const jStat = (createRequire(import.meta.url)("jstat") as { jStat: JStatSubset }).jStat;
