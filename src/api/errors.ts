/**
 * One error format for every answer: `{error: {code, message, details?}}`. `ApiError` carries a code
 * from a closed set, each mapped to one HTTP status; `onError` turns anything thrown into that shape,
 * and never answers 500 for something a client sent (validation, bad JSON, oversize body).
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DomainError } from "../engine/errors.ts";
import { isUnavailable } from "../store/db.ts";
import type { AppEnv } from "./env.ts";

export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    /** For `rate_limited`: seconds until a retry can succeed (sent as Retry-After). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code];
  }
}

export function errorBody(code: ErrorCode, message: string, details?: ErrorDetail[]) {
  return { error: { code, message, ...(details?.length ? { details } : {}) } };
}

interface Issue {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  keys?: readonly string[];
}

/**
 * zod issues → `details`, each naming a dotted path ("arms.0.key"); an unknown field gets one detail of
 * its own whose path ends with its name ("events.0.vaule: unknown field").
 */
export function zodDetails(issues: readonly Issue[]): ErrorDetail[] {
  return issues.flatMap((i) =>
    i.code === "unrecognized_keys" && i.keys
      ? i.keys.map((k) => ({ path: [...i.path, k].map(String).join("."), message: "unknown field" }))
      : [{ path: i.path.map(String).join("."), message: i.message }],
  );
}

export function invalid(issues: readonly Issue[]): ApiError {
  const details = zodDetails(issues);
  const first = details[0];
  return new ApiError(
    "invalid_request",
    first ? `${first.path || "body"}: ${first.message}` : "invalid request",
    details,
  );
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof DomainError) return new ApiError(err.code, err.message, err.details);
  if (err instanceof HTTPException) {
    const s = err.status;
    if (s === 413) return new ApiError("payload_too_large", "request body too large");
    if (s === 401) return new ApiError("unauthorized", err.message || "unauthorized");
    if (s >= 400 && s < 500) return new ApiError("invalid_request", err.message || "invalid request");
  }
  if (err instanceof SyntaxError) return new ApiError("invalid_request", "malformed JSON in request body");
  if (isUnavailable(err)) return new ApiError("unavailable", "database unavailable");
  return new ApiError("internal", "internal error");
}

/** Seconds a client should wait before retrying a 503 (the database probe runs every 200 ms while down). */
export const UNAVAILABLE_RETRY_AFTER_S = 1;

export function onError(err: Error, c: Context<AppEnv>) {
  const e = toApiError(err);
  // One line, never the error's query parameters (a batch's parameters can be megabytes).
  if (e.code === "internal")
    c.get("logger")?.error({ err: { name: err.name, message: err.message, stack: err.stack } }, "unhandled error");
  if (e.code === "unavailable") c.header("retry-after", String(UNAVAILABLE_RETRY_AFTER_S));
  if (e.code === "rate_limited" && e.retryAfterS !== undefined) c.header("retry-after", String(e.retryAfterS));
  return c.json(errorBody(e.code, e.message, e.details), e.status);
}
