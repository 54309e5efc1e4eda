/**
 * Every failure of a client call is an `AdbanditError`: the server's `{error: {code, message, details}}`
 * with its HTTP status, or a client-side code when no answer came (timeout, network) or the answer was not
 * the API's error shape.
 */

/** Codes the server answers with (src/api/errors.ts). */
export type ServerErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "rate_limited"
  | "unavailable"
  | "internal";

/** Codes the client sets itself: no answer in time, no connection, an answer it could not read, a full buffer. */
export type ClientErrorCode = "timeout" | "network" | "invalid_response" | "buffer_full" | "closed";

export type ErrorCode = ServerErrorCode | ClientErrorCode;

export interface ErrorDetail {
  /** Dotted path of the offending field ("arms.0.key"). */
  path: string;
  message: string;
}

export class AdbanditError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** HTTP status, or 0 when no answer came. */
    readonly status = 0,
    readonly details: ErrorDetail[] = [],
    /** The server's Retry-After, in milliseconds, on 429 and 503. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AdbanditError";
  }

  /** The first field the server named, if any. */
  get field(): string | undefined {
    return this.details[0]?.path;
  }

  /** Whether the server refused the request without acting on it, so sending it again is safe. */
  get retryable(): boolean {
    return this.code === "rate_limited" || this.code === "unavailable";
  }

  /** From an error answer: the API's error body when it has one, else the status alone. */
  static fromAnswer(status: number, body: unknown, headers?: Headers): AdbanditError {
    const retryAfterMs = headers ? retryAfterMsOf(headers) : undefined;
    const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
    if (e && typeof e.code === "string" && typeof e.message === "string") {
      const details = Array.isArray(e.details)
        ? e.details.map((d: { path?: unknown; message?: unknown }) => ({
            path: Array.isArray(d.path) ? d.path.join(".") : String(d.path ?? ""),
            message: String(d.message ?? ""),
          }))
        : [];
      return new AdbanditError(e.code as ErrorCode, e.message, status, details, retryAfterMs);
    }
    const text = typeof body === "string" && body.length ? `: ${body.slice(0, 200)}` : "";
    return new AdbanditError(codeOfStatus(status), `HTTP ${status}${text}`, status, [], retryAfterMs);
  }
}

function codeOfStatus(status: number): ErrorCode {
  const byStatus: Record<number, ServerErrorCode> = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    503: "unavailable",
  };
  return byStatus[status] ?? (status >= 500 ? "internal" : "invalid_response");
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMsOf(headers: Headers, now = Date.now()): number | undefined {
  const v = headers.get("retry-after");
  if (v === null || v.trim() === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
