/**
 * Finds strategies by their stored type name through the strategy library's registry
 * (`getStrategy(type)` in strategies/index.ts). The simulator can also be driven by an injected resolver
 * (tests); this is the default, and the one worker threads use.
 */
import { getStrategy } from "../strategies/index.ts";
import type { Strategy } from "../strategies/types.ts";
import type { StrategyResolver } from "./runner.ts";

export const libraryResolve: StrategyResolver = (type: string) => getStrategy(type) as unknown as Strategy;

/** Kept async so callers need not change if the registry is ever loaded lazily. */
export async function libraryResolver(): Promise<StrategyResolver> {
  return libraryResolve;
}
