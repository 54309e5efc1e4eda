/**
 * The engine's view of the strategy library: `getStrategy(type)` and `createEncoder(specs)`, behind an
 * interface the engine receives (buildService passes `libraryRegistry`), so tests and simulations can
 * hand it a stub or a subset.
 */
import { ContextError, createEncoder, type Encoder, type FeatureSpec } from "../../strategies/features.ts";
import { getStrategy } from "../../strategies/index.ts";
import { StrategyParamError, type Strategy } from "../../strategies/types.ts";
import { DomainError } from "./errors.ts";

export type { Encoder, FeatureSpec };

export interface StrategyRegistry {
  /** Returns the strategy, or throws/returns undefined for an unknown type. */
  getStrategy(type: string): Strategy | undefined;
  createEncoder(specs: FeatureSpec[]): Encoder;
}

/** Maps the library's parameter/context errors to domain errors naming the field. */
export function asDomainError(err: unknown, pathPrefix: string): DomainError | undefined {
  if (err instanceof StrategyParamError || err instanceof ContextError) {
    const path = `${pathPrefix}.${err.field}`;
    return new DomainError("invalid_request", `${path}: ${err.message.replace(`${err.field}: `, "")}`, [
      { path, message: err.message },
    ]);
  }
  if (err instanceof DomainError) return err;
  return undefined;
}

export function resolveStrategy(registry: StrategyRegistry, type: string): Strategy {
  let s: Strategy | undefined;
  try {
    s = registry.getStrategy(type);
  } catch {
    s = undefined;
  }
  if (!s)
    throw new DomainError("invalid_request", `strategy.type: unknown strategy "${type}"`, [
      { path: "strategy.type", message: `unknown strategy "${type}"` },
    ]);
  return s;
}

/** The strategy library's registry (strategies/index.ts) and context encoder. */
export const libraryRegistry: StrategyRegistry = {
  getStrategy: (type) => getStrategy(type) as Strategy,
  createEncoder: (specs) => createEncoder(specs),
};

/** Kept async so callers need not change if the library is ever loaded lazily. */
export async function loadRegistry(): Promise<StrategyRegistry> {
  return libraryRegistry;
}
