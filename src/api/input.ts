/**
 * Input isolation: every JSON body is checked once, before any route sees it (and so before anything
 * joins the shared group commit), for what PostgreSQL or the numerics cannot take:
 *   - U+0000 or an unpaired UTF-16 surrogate in any string or key (jsonb and text reject them, which
 *     failed a whole batch of other tenants' decisions);
 *   - nesting deeper than `BODY_MAX_DEPTH` (a 10,000-deep `context` blew the stack when stored);
 *   - numbers that are not finite (`1e400` parses to Infinity).
 * A violation is a 400 naming the field (`details[].path`, dotted). Per-field bounds (context and
 * metadata size, value ranges) are in the schemas (`boundedJson` below, used by schemas.ts).
 */
import { z } from "@hono/zod-openapi";
import { ApiError } from "./errors.ts";

/** Deepest nesting of any request body (objects and arrays; the body itself is depth 1). */
export const BODY_MAX_DEPTH = 32;

export interface JsonProblem {
  path: (string | number)[];
  message: string;
}

const BAD_TEXT = "must not contain U+0000 or an unpaired UTF-16 surrogate";

// String.prototype.isWellFormed (Node ≥ 20) is past the ES2022 lib this project compiles against.
type WellFormed = { isWellFormed(): boolean };

export function isStorableText(s: string): boolean {
  return (s as unknown as WellFormed).isWellFormed() && !s.includes("\u0000");
}

/**
 * The first problem in a parsed JSON value, or null: unstorable text, non-finite numbers, nesting
 * deeper than `maxDepth`, or a number beyond `maxAbs` when given. Iterative, so no input can exhaust
 * the stack; stops at the first problem.
 */
export function jsonProblem(value: unknown, maxDepth: number, maxAbs = Number.POSITIVE_INFINITY): JsonProblem | null {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop() as { v: unknown; path: (string | number)[] };
    if (typeof v === "string") {
      if (!isStorableText(v)) return { path, message: BAD_TEXT };
    } else if (typeof v === "number") {
      if (!Number.isFinite(v)) return { path, message: "must be a finite number" };
      if (Math.abs(v) > maxAbs) return { path, message: `must be within ±${maxAbs}` };
    } else if (v !== null && typeof v === "object") {
      if (path.length >= maxDepth) return { path, message: `nested deeper than ${maxDepth} levels` };
      if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: [...path, i] });
      else
        for (const [k, x] of Object.entries(v)) {
          if (!isStorableText(k)) return { path: [...path, k], message: `key ${BAD_TEXT}` };
          stack.push({ v: x, path: [...path, k] });
        }
    }
  }
  return null;
}

const isDigit = (ch: number) => ch >= 48 && ch <= 57;
const isHex = (ch: number) => isDigit(ch) || (ch >= 97 && ch <= 102) || (ch >= 65 && ch <= 70);

/**
 * Whether the parsed value of this JSON text certainly passes `jsonProblem(·, maxDepth)`, read off the text
 * in one scan without allocating — so the walk, which allocates a path per node, runs only on texts that
 * may fail it (an event batch's walk cost more than its JSON.parse). Suspect, and so walked: a \u0000 or
 * surrogate escape (raw U+0000 is not valid JSON, and a text decoded from UTF-8 holds no lone surrogate;
 * isWellFormed covers any other), an exponent of three digits or a run of 300 digits (the only ways to
 * an infinite number), nesting deeper than `maxDepth` (brackets outside strings; the body is depth 1).
 */
export function textIsPlain(text: string, maxDepth: number): boolean {
  if (!(text as unknown as WellFormed).isWellFormed()) return false;
  let depth = 0;
  let inString = false;
  let digits = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 34) inString = false;
      else if (ch === 92) {
        // an escape: \u0000, or \uD800–\uDFFF (a surrogate, paired or not: the walk decides)
        if (text.charCodeAt(i + 1) === 117) {
          const a = text.charCodeAt(i + 2);
          const b = text.charCodeAt(i + 3);
          if ((a === 100 || a === 68) && (b === 56 || b === 57 || (b > 57 && isHex(b)))) return false;
          if (a === 48 && b === 48 && text.charCodeAt(i + 4) === 48 && text.charCodeAt(i + 5) === 48) return false;
          if (!isHex(a)) return false; // not valid JSON anyway
        }
        i++;
      }
      continue;
    }
    if (isDigit(ch)) {
      if (++digits >= 300) return false;
      continue;
    }
    digits = 0;
    if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) {
      if (++depth > maxDepth) return false;
    } else if (ch === 125 || ch === 93) depth--;
    else if (ch === 101 || ch === 69) {
      // an exponent (or the e of true/false): three digits after an optional sign are suspect
      let j = i + 1;
      const sign = text.charCodeAt(j);
      if (sign === 43 || sign === 45) j++;
      if (isDigit(text.charCodeAt(j)) && isDigit(text.charCodeAt(j + 1)) && isDigit(text.charCodeAt(j + 2)))
        return false;
    }
  }
  return true;
}

/** Parses a request body and checks it (`jsonProblem` with `BODY_MAX_DEPTH`); throws a 400 naming the field. */
export function parseBody(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError("invalid_request", "malformed JSON in request body");
  }
  if (textIsPlain(text, BODY_MAX_DEPTH)) return value;
  const p = jsonProblem(value, BODY_MAX_DEPTH);
  if (p) {
    const path = p.path.join(".");
    throw new ApiError("invalid_request", `${path || "body"}: ${p.message}`, [{ path, message: p.message }]);
  }
  return value;
}

export interface JsonBounds {
  /** Deepest nesting inside the value (a flat object is depth 1). */
  maxDepth: number;
  /** Largest size of the value as JSON, in UTF-8 bytes. */
  maxBytes: number;
  /** Largest absolute value of any number inside it. */
  maxAbs?: number;
}

/** A JSON object bounded in depth, size and numbers: for `context` and `metadata`. */
export function boundedJson(bounds: JsonBounds) {
  return z.record(z.string(), z.unknown()).superRefine((v, ctx) => {
    const p = jsonProblem(v, bounds.maxDepth, bounds.maxAbs);
    if (p) {
      ctx.addIssue({ code: "custom", path: p.path, message: p.message });
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(v));
    if (bytes > bounds.maxBytes)
      ctx.addIssue({ code: "custom", message: `larger than ${bounds.maxBytes} bytes as JSON (${bytes})` });
  });
}
