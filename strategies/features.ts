/**
 * Context encoder: turns a request's context object into the feature vector the contextual strategies
 * read, x = [1 (intercept), numeric features as given, one-hot or hashed categorical features].
 *
 * - numeric: the value itself; missing (undefined / null) → 0, which with an intercept means "at the
 *   baseline". Scale numeric features yourself (ridge regression is not scale invariant).
 * - categorical with `values`: one-hot over the listed values; a missing or unlisted value → all zeros.
 * - categorical without `values`: the feature hashing trick (Weinberger et al. 2009) into `buckets`
 *   slots (default 16) with FNV-1a 32-bit of the string value — stable across processes and versions.
 * A value of the wrong type throws `ContextError` naming the feature, so the API can answer 400.
 */
import { StrategyParamError } from "./types.ts";

export interface FeatureSpec {
  name: string;
  type: "numeric" | "categorical";
  values?: string[];
  buckets?: number;
}

export interface Encoder {
  /** Length of the encoded vector (the `dim` to give a contextual strategy's init). */
  dim: number;
  encode(ctx: Record<string, unknown> | undefined): Float64Array;
}

/** A context value that does not fit its feature's type; `field` is the feature's name. */
export class ContextError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "ContextError";
  }
}

/** FNV-1a 32-bit over UTF-16 code units: stable, fast, good enough spread for bucketing. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

interface Slot {
  name: string;
  offset: number;
  kind: "numeric" | "onehot" | "hashed";
  index?: Map<string, number>;
  buckets?: number;
}

export function createEncoder(specs: FeatureSpec[], opts: { intercept?: boolean } = {}): Encoder {
  const intercept = opts.intercept ?? true;
  const seen = new Set<string>();
  const slots: Slot[] = [];
  let offset = intercept ? 1 : 0;
  specs.forEach((s, i) => {
    const where = `features[${i}]`;
    if (!s || typeof s.name !== "string" || s.name === "")
      throw new StrategyParamError(`${where}.name`, "must be a non-empty string");
    if (seen.has(s.name)) throw new StrategyParamError(`${where}.name`, `duplicate feature "${s.name}"`);
    seen.add(s.name);
    if (s.type === "numeric") {
      slots.push({ name: s.name, offset, kind: "numeric" });
      offset += 1;
    } else if (s.type === "categorical") {
      if (s.values !== undefined) {
        if (!Array.isArray(s.values) || s.values.length === 0)
          throw new StrategyParamError(`${where}.values`, "must be a non-empty array of strings");
        const index = new Map<string, number>();
        s.values.forEach((v, j) => {
          if (typeof v !== "string") throw new StrategyParamError(`${where}.values`, "must be strings");
          if (index.has(v)) throw new StrategyParamError(`${where}.values`, `duplicate value "${v}"`);
          index.set(v, j);
        });
        slots.push({ name: s.name, offset, kind: "onehot", index });
        offset += index.size;
      } else {
        const buckets = s.buckets ?? 16;
        if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1 << 16)
          throw new StrategyParamError(`${where}.buckets`, "must be an integer in [1, 65536]");
        slots.push({ name: s.name, offset, kind: "hashed", buckets });
        offset += buckets;
      }
    } else {
      throw new StrategyParamError(`${where}.type`, 'must be "numeric" or "categorical"');
    }
  });
  const dim = offset;

  return {
    dim,
    encode(ctx) {
      const x = new Float64Array(dim);
      if (intercept) x[0] = 1;
      for (const s of slots) {
        const v = ctx?.[s.name];
        if (v === undefined || v === null) continue;
        if (s.kind === "numeric") {
          if (typeof v !== "number" || !Number.isFinite(v))
            throw new ContextError(s.name, `expected a finite number, got ${describe(v)}`);
          x[s.offset] = v;
        } else {
          if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
            throw new ContextError(s.name, `expected a string, got ${describe(v)}`);
          const str = String(v);
          if (s.kind === "onehot") {
            const j = s.index!.get(str);
            if (j !== undefined) x[s.offset + j] = 1;
          } else {
            x[s.offset + (fnv1a(str) % s.buckets!)] = 1;
          }
        }
      }
      return x;
    },
  };
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number") return String(v);
  return typeof v;
}
