/**
 * Logged decisions for off-policy evaluation, read from the service's export format or a generic CSV.
 *
 * JSONL (the service's `GET /v1/campaigns/{id}/decisions/export?format=jsonl`), one object per line:
 *   {"decisionId","timestamp","campaignId","action","propensity","reward","context":{feature:value},"unitId"?,"position"?,"available"?}
 * (`available`: the actions that could have been chosen for this decision, e.g. the campaign's active arms).
 * CSV export: header `decision_id,timestamp,action,propensity,reward,context_json`.
 * Generic CSV: `action,propensity,reward` plus one `context.<feature>` or `x_<feature>` column per feature
 * (optional `timestamp`, `position`, `decision_id`, `available` as `a|b|c`). An empty propensity means "unknown".
 * Errors name the line and the field.
 */
import { readFileSync } from "node:fs";

export type ContextValue = number | string | boolean | null;

export interface LogRow {
  decisionId?: string;
  timestamp?: string;
  action: string;
  /** Logging policy's probability of the logged action; null when not logged. */
  propensity: number | null;
  reward: number;
  context: Record<string, ContextValue>;
  /** Slot of a slate (any integer label: 0, 1, 2 or 1, 2, 3); rows without one are single-action decisions. */
  position?: number;
  /** Actions available for this decision (absent: every action of the evaluation's action set). */
  available?: string[];
  /** Line in the file it was read from (errors and diagnostics name it). */
  line?: number;
}

export class LogFormatError extends Error {
  constructor(
    readonly line: number,
    readonly field: string,
    message: string,
  ) {
    super(`line ${line}: ${field}: ${message}`);
    this.name = "LogFormatError";
  }
}

function num(v: unknown, line: number, field: string, optional: boolean): number | null {
  if (v === null || v === undefined || v === "") {
    if (optional) return null;
    throw new LogFormatError(line, field, "missing");
  }
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n)) throw new LogFormatError(line, field, `not a number: ${JSON.stringify(v)}`);
  return n;
}

function checkRow(r: LogRow, line: number): LogRow {
  if (r.action === "") throw new LogFormatError(line, "action", "missing");
  if (r.propensity !== null && (r.propensity < 0 || r.propensity > 1))
    throw new LogFormatError(line, "propensity", `must be in [0, 1], got ${r.propensity}`);
  if (r.position !== undefined && !Number.isInteger(r.position))
    throw new LogFormatError(line, "position", `must be an integer, got ${r.position}`);
  if (r.available !== undefined) {
    if (r.available.length === 0) throw new LogFormatError(line, "available", "must list at least one action");
    if (!r.available.includes(r.action))
      throw new LogFormatError(line, "available", `does not include the logged action "${r.action}"`);
  }
  if (r.available === undefined) delete r.available;
  r.line = line;
  return r;
}

function availableOf(v: unknown, line: number): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === ""))
    throw new LogFormatError(line, "available", "must be a list of action keys");
  return v as string[];
}

function contextOf(v: unknown, line: number): Record<string, ContextValue> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v))
    throw new LogFormatError(line, "context", "must be an object of feature: value");
  const out: Record<string, ContextValue> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x !== null && typeof x !== "number" && typeof x !== "string" && typeof x !== "boolean")
      throw new LogFormatError(line, `context.${k}`, "must be a number, string, boolean or null");
    out[k] = x as ContextValue;
  }
  return out;
}

export function parseJsonl(text: string): LogRow[] {
  const rows: LogRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      throw new LogFormatError(line, "(json)", (e as Error).message);
    }
    if (typeof o !== "object" || o === null || Array.isArray(o))
      throw new LogFormatError(line, "(json)", "each line must be an object");
    rows.push(
      checkRow(
        {
          decisionId: o.decisionId === undefined ? undefined : String(o.decisionId),
          timestamp: o.timestamp === undefined ? undefined : String(o.timestamp),
          action: o.action === undefined || o.action === null ? "" : String(o.action),
          propensity: num(o.propensity, line, "propensity", true),
          reward: num(o.reward, line, "reward", false)!,
          context: contextOf(o.context, line),
          position:
            o.position === undefined || o.position === null ? undefined : num(o.position, line, "position", false)!,
          available: availableOf(o.available, line),
        },
        line,
      ),
    );
  });
  return rows;
}

/** RFC 4180 records: quoted fields may hold commas, quotes ("") and newlines. Returns [line, fields][]. */
export function csvRecords(text: string): [number, string[]][] {
  const out: [number, string[]][] = [];
  let field = "";
  let rec: string[] = [];
  let quoted = false;
  let line = 1;
  let recLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === "\n") line++;
        field += c;
      }
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      rec.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      rec.push(field);
      if (rec.length > 1 || rec[0] !== "") out.push([recLine, rec]);
      rec = [];
      field = "";
      line++;
      recLine = line;
    } else field += c;
  }
  if (field !== "" || rec.length > 0) {
    rec.push(field);
    out.push([recLine, rec]);
  }
  return out;
}

function csvValue(s: string): ContextValue {
  if (s === "") return null;
  const n = Number(s);
  return Number.isFinite(n) && /^[-+0-9.eE]+$/.test(s) ? n : s;
}

export function parseCsv(text: string): LogRow[] {
  const recs = csvRecords(text);
  if (recs.length === 0) return [];
  const [, header] = recs[0];
  const col = (name: string) => header.indexOf(name);
  const need = (name: string) => {
    const i = col(name);
    if (i < 0) throw new LogFormatError(1, name, "column missing from the header");
    return i;
  };
  const iAction = need("action");
  const iProp = need("propensity");
  const iReward = need("reward");
  const iCtxJson = col("context_json");
  const iTs = col("timestamp");
  const iId = col("decision_id") >= 0 ? col("decision_id") : col("decisionId");
  const iPos = col("position");
  const iAvail = col("available");
  const featureCols = header
    .map((h, i) => [h, i] as const)
    .filter(([h]) => h.startsWith("context.") || h.startsWith("x_"))
    .map(([h, i]) => [h.startsWith("x_") ? h.slice(2) : h.slice("context.".length), i] as const);
  return recs.slice(1).map(([line, f]) => {
    if (f.length !== header.length)
      throw new LogFormatError(line, "(csv)", `expected ${header.length} fields, got ${f.length}`);
    let context: Record<string, ContextValue> = {};
    if (iCtxJson >= 0 && f[iCtxJson] !== "") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(f[iCtxJson]);
      } catch (e) {
        throw new LogFormatError(line, "context_json", (e as Error).message);
      }
      context = contextOf(parsed, line);
    }
    for (const [name, i] of featureCols) context[name] = csvValue(f[i]);
    return checkRow(
      {
        decisionId: iId >= 0 ? f[iId] : undefined,
        timestamp: iTs >= 0 && f[iTs] !== "" ? f[iTs] : undefined,
        action: f[iAction],
        propensity: num(f[iProp], line, "propensity", true),
        reward: num(f[iReward], line, "reward", false)!,
        context,
        position: iPos >= 0 && f[iPos] !== "" ? num(f[iPos], line, "position", false)! : undefined,
        available: iAvail >= 0 && f[iAvail] !== "" ? f[iAvail].split("|") : undefined,
      },
      line,
    );
  });
}

/** Reads a log file: JSONL when it ends in .jsonl/.ndjson/.json or its first character is "{", else CSV. */
export function readLogs(path: string): LogRow[] {
  const text = readFileSync(path, "utf8");
  const jsonl = /\.(jsonl|ndjson|json)$/i.test(path) || text.trimStart().startsWith("{");
  return jsonl ? parseJsonl(text) : parseCsv(text);
}

/** A decision row as the service's store reads it (src/store/decision-export.ts `ExportRow`), structurally. */
export interface StoredDecision {
  id: string;
  created_at: Date | string;
  arm_key: string;
  propensity: number | string | null;
  reward: number | string;
  context: Record<string, unknown> | null;
  position: number | null;
}

/** The service's stored decision → a log row (what the export endpoint writes as JSONL). */
export function storedDecisionToLog(r: StoredDecision): LogRow {
  const context: Record<string, ContextValue> = {};
  for (const [k, v] of Object.entries(r.context ?? {}))
    context[k] =
      v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean" ? v : JSON.stringify(v);
  const p = r.propensity === null || r.propensity === undefined ? null : Number(r.propensity);
  return {
    decisionId: r.id,
    timestamp: (r.created_at instanceof Date ? r.created_at : new Date(r.created_at)).toISOString(),
    action: r.arm_key,
    propensity: p !== null && Number.isFinite(p) ? p : null,
    reward: Number(r.reward),
    context,
    ...(r.position !== null && { position: r.position }),
  };
}
