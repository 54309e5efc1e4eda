/**
 * The engine's view of the strategy library: `getStrategy(type)` and `createEncoder(specs)`.
 * Injected (not imported) so the engine can be tested against a stub and so the library can grow
 * without the engine knowing its file layout.
 */
import { ContextError, createEncoder, type Encoder, type FeatureSpec } from "../../strategies/features.ts";
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
    return new DomainError("invalid_request", `${path}: ${err.message.replace(`${err.field}: `, "")}`, [{ path, message: err.message }]);
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
  if (!s) throw new DomainError("invalid_request", `strategy.type: unknown strategy "${type}"`, [{ path: "strategy.type", message: `unknown strategy "${type}"` }]);
  return s;
}

/**
 * The library's registry, loaded at run time: strategies/index.ts is being written alongside this
 * service, so the specifier is computed to keep the typecheck independent of its progress.
 */
export async function loadRegistry(): Promise<StrategyRegistry> {
  const spec = ["..", "..", "strategies", "index.ts"].join("/");
  const mod = (await import(spec)) as { getStrategy?: (t: string) => Strategy | undefined };
  if (typeof mod.getStrategy !== "function") throw new Error("strategies/index.ts does not export getStrategy");
  return { getStrategy: mod.getStrategy, createEncoder: (specs) => createEncoder(specs) };
}
