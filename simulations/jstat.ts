/**
 * jstat, typed for what simulations/ uses (quantiles and CDFs only — never its samplers, which call
 * Math.random). Loaded through createRequire with a local type so no global `declare module` can clash.
 */
import { createRequire } from "node:module";

export interface JStatQuantiles {
  studentt: { inv(p: number, dof: number): number };
  normal: { inv(p: number, mean: number, sd: number): number; cdf(x: number, mean: number, sd: number): number };
  chisquare: { cdf(x: number, dof: number): number };
}

export const jStat = (createRequire(import.meta.url)("jstat") as { jStat: JStatQuantiles }).jStat;
