/**
 * Finds strategies by their stored type name through the strategy library's registry
 * (`getStrategy(type)` in strategies/index.ts). Imported lazily so that the simulator can also be driven by
 * an injected resolver (tests, or a library not yet built).
 */
import type { Strategy } from "../strategies/types.ts";
import type { StrategyResolver } from "./runner.ts";

let cached: StrategyResolver | null = null;

export async function libraryResolver(): Promise<StrategyResolver> {
  if (cached) return cached;
  const spec = "../strategies/index.ts";
  let mod: { getStrategy?: (type: string) => Strategy };
  try {
    mod = (await import(spec)) as typeof mod;
  } catch (e) {
    throw new Error(`cannot load the strategy registry (strategies/index.ts): ${(e as Error).message}`);
  }
  if (typeof mod.getStrategy !== "function") throw new Error("strategies/index.ts does not export getStrategy(type)");
  const get = mod.getStrategy;
  cached = (type: string) => get(type);
  return cached;
}
