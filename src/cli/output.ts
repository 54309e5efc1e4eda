/**
 * What the CLI prints and how it exits: aligned tables for people, JSON with --json, errors with the
 * server's code, message and fields on stderr, and exit codes with one meaning each.
 */
import { AdbanditError } from "../client/errors.ts";

/** Exit codes (documented in src/cli/README.md). */
export const EXIT = {
  ok: 0,
  /** An unexpected failure: a bug, or an answer the CLI could not read. */
  failure: 1,
  /** Bad command line, unreadable or invalid input file, missing configuration. */
  usage: 2,
  /** The server refused the request: 400, 404, 409, 413 (message and fields printed). */
  refused: 3,
  /** Authentication or permission: 401 (missing or unknown key), 403 (the key's role does not allow it). */
  auth: 4,
  /** The service is unavailable or unreachable: 503 or 429 after the retries, network error, timeout. */
  unavailable: 5,
  /** An import finished but some rows were rejected or conflicted (see its summary file). */
  partial: 6,
  /** Interrupted (SIGINT); an import can be resumed by running it again. */
  interrupted: 130,
} as const;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** A usage problem found by the CLI itself (bad flag value, bad input file). */
export class UsageError extends Error {
  override name = "UsageError";
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (!(err instanceof AdbanditError)) return EXIT.failure;
  switch (err.code) {
    case "unauthorized":
    case "forbidden":
      return EXIT.auth;
    case "unavailable":
    case "rate_limited":
    case "timeout":
    case "network":
      return EXIT.unavailable;
    case "invalid_request":
    case "not_found":
    case "conflict":
    case "payload_too_large":
      return EXIT.refused;
    default:
      return EXIT.failure;
  }
}

/** Prints an error on stderr: the server's message, then each field it named. */
export function printError(io: Io, err: unknown, json: boolean): void {
  if (err instanceof AdbanditError) {
    if (json) {
      io.err(
        `${JSON.stringify({ error: { code: err.code, message: err.message, status: err.status, details: err.details } })}\n`,
      );
      return;
    }
    const status = err.status ? `, HTTP ${err.status}` : "";
    let text = `error: ${err.message} (${err.code}${status})\n`;
    for (const d of err.details) text += `  ${d.path || "(body)"}: ${d.message}\n`;
    if (err.retryAfterMs !== undefined) text += `  retry after ${Math.ceil(err.retryAfterMs / 1000)} s\n`;
    io.err(text);
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.err(json ? `${JSON.stringify({ error: { code: "cli", message } })}\n` : `error: ${message}\n`);
}

export type Cell = string | number | boolean | null | undefined;

/** One display string per cell: numbers rounded for reading, null as "–". */
export function cell(v: Cell, digits = 4): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return "–";
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    return Math.abs(v) >= 1000
      ? v.toLocaleString("en-US", { maximumFractionDigits: 0 })
      : String(Number(v.toPrecision(digits)));
  }
  return String(v);
}

/** An aligned text table; numeric-looking columns are right-aligned. */
export function table(head: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map((c) => cell(c)));
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number" || r[i] == null));
  const widths = head.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return `${[line(head), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n")}\n`;
}

/** `key  value` lines for one record. */
export function fields(record: Record<string, Cell>): string {
  const w = Math.max(...Object.keys(record).map((k) => k.length));
  return `${Object.entries(record)
    .map(([k, v]) => `${k.padEnd(w)}  ${cell(v)}`)
    .join("\n")}\n`;
}
