/**
 * `adbandit import events <file>` and `adbandit import decisions <file>`: historical events or decisions
 * from CSV or JSONL, streamed and sent in batches, with a checkpoint so that an interrupted import resumes
 * where it stopped and counts nothing twice. One importer; what differs per kind (the columns, the
 * API schema a row is checked against, the route, the answer's shape) is an `ImportKind` (`EVENTS`,
 * `DECISIONS`).
 *
 * - Rows are read as a stream (csv-parse / line by line), checked against the API's own schema of the kind
 *   (a bad row is rejected here with its line, instead of failing the 1000 rows sent with it), and sent
 *   `batchSize` at a time with `concurrency` batches in flight. Decisions go to their campaign's route:
 *   `--campaign`, or each row's own `campaignId` (a batch never mixes campaigns).
 * - The checkpoint (JSON, written atomically) holds the contiguous prefix of rows whose answers have been
 *   counted, the counts so far, and `sentUpTo`, the last row that may have reached the server. It is
 *   written before each send and after each counted batch. A rerun skips the counted prefix and resends
 *   the rest; events are idempotent by id (decisions by decision id), so the server stores each once.
 * - A resent row the server already has comes back `duplicate`. When it may have been sent by this import
 *   before (its row is at most the checkpoint's `sentUpTo`, or the transport retried its batch after a lost
 *   connection), it is counted as accepted (`recovered`), not as a duplicate — so accepted + duplicates over
 *   the interrupted and resumed runs equals the rows of the file. Only an id that was already on the server
 *   before the import started *and* falls in that resent window is counted as accepted though duplicate.
 * - A 404 (e.g. `--campaign` names no campaign of the workspace) stops the import too.
 * - A batch the server refuses as a whole (400, 413) is split in halves until the culprit rows are alone,
 *   and each is rejected with the server's message. Any other failure (unreachable, 401/403) stops the
 *   import after the batches in flight, with the checkpoint saved; run the same command again to resume.
 * - Rejected and conflicting rows go to the rejects file (JSONL: line, id, status, reason); the summary
 *   (JSON) says accepted / recovered / duplicates / rejected / conflicts / invalid and reasons.
 */
import {
  createReadStream,
  existsSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  appendFileSync,
} from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { Presets, SingleBar } from "cli-progress";
import { parse } from "csv-parse";
import type { z } from "@hono/zod-openapi";
import { EventIn, ImportedDecisionIn } from "../api/schemas.ts";
import type { AdbanditClient, DecisionImportResult, Event, ImportedDecision } from "../client/index.ts";
import type { EventBatchResult } from "../client/types.ts";
import { AdbanditError } from "../client/errors.ts";
import { type Fetch, retryingFetch } from "../client/transport.ts";
import { UsageError } from "./output.ts";

/** One row's answer from the server. */
interface ItemResult {
  status: "accepted" | "duplicate" | "rejected" | "conflict";
  reason?: string;
  invalid?: boolean;
}

/** An openapi-fetch answer, reduced to what the importer reads. */
type Answer = { data?: unknown; error?: unknown; response: Response };

/** What differs between importing events and importing decisions. */
export interface ImportKind<T> {
  /** "events" or "decisions", as in the command. */
  name: string;
  /** The API's schema for one item: each row is checked against it before sending. */
  schema: z.ZodType<T>;
  /** A CSV record (header → cell) as the item's JSON shape. */
  fromCsv(rec: Record<string, string>): Record<string, unknown>;
  /** A JSONL object as the item's JSON shape (e.g. a line of `adbandit export`). */
  fromJson(raw: unknown): unknown;
  idOf(item: T): string;
  /** The id shown for a row that did not parse. */
  rawId(raw: unknown): string | undefined;
  /** The campaign a row goes to (decisions), or undefined when the route does not need one. */
  groupOf?(raw: unknown, given?: string): string | undefined;
  send(client: AdbanditClient, items: T[], group: string | undefined, fetch: Fetch): Promise<Answer>;
  /** The answer's per-item results, in request order. */
  results(data: unknown): ItemResult[];
}

export interface ImportOptions {
  file: string;
  /** Decisions: the campaign every row goes to (else each row's `campaignId`). */
  campaign?: string;
  format?: "csv" | "jsonl";
  batchSize?: number;
  concurrency?: number;
  /** Default `<file>.import.json`. */
  checkpoint?: string;
  /** Default `<file>.summary.json`. */
  summary?: string;
  /** Default `<file>.rejected.jsonl`. */
  rejects?: string;
  /** Ignore an existing checkpoint and start from the first row. */
  restart?: boolean;
  /** Show a progress bar on stderr (when it is a terminal). */
  progress?: boolean;
  /** Stops reading; batches in flight finish and the checkpoint is saved. */
  signal?: AbortSignal;
}

export interface Counts {
  accepted: number;
  /** Of `accepted`: stored by an earlier attempt of this import, acknowledged now. */
  recovered: number;
  duplicates: number;
  rejected: number;
  conflicts: number;
  /** Of `accepted`: stored but marked invalid by the fraud gate. */
  invalid: number;
  reasons: Record<string, number>;
}

export interface ImportSummary extends Counts {
  file: string;
  complete: boolean;
  /** Rows counted so far (accepted + duplicates + rejected + conflicts). */
  rows: number;
  checkpoint: string;
  rejects: string;
  summary: string;
}

interface Checkpoint {
  version: 1;
  /** What is imported (absent in checkpoints of events imports written before decisions could be). */
  kind?: string;
  campaign?: string;
  file: string;
  size: number;
  mtimeMs: number;
  rowsDone: number;
  sentUpTo: number;
  complete: boolean;
  counts: Counts;
}

interface Row<T> {
  row: number;
  line: number;
  item?: T;
  /** The campaign it goes to (decisions). */
  group?: string;
  /** Rejected before sending. */
  reason?: string;
  id?: string;
}

interface Outcome {
  row: number;
  line: number;
  id: string;
  status: "accepted" | "duplicate" | "rejected" | "conflict";
  reason?: string;
  invalid?: boolean;
  maybeSent: boolean;
}

const emptyCounts = (): Counts => ({
  accepted: 0,
  recovered: 0,
  duplicates: 0,
  rejected: 0,
  conflicts: 0,
  invalid: 0,
  reasons: {},
});

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

function formatOf(file: string, given?: string): "csv" | "jsonl" {
  if (given === "csv" || given === "jsonl") return given;
  if (given !== undefined) throw new UsageError(`--format: expected csv or jsonl, got ${given}`);
  if (/\.csv$/i.test(file)) return "csv";
  if (/\.(jsonl|ndjson)$/i.test(file)) return "jsonl";
  throw new UsageError(`${file}: cannot tell the format from the name; pass --format csv or --format jsonl`);
}

/** A CSV header cell, as looked up in the field tables below (case, `_`, `-` and spaces ignored). */
const headerKey = (k: string) => k.toLowerCase().replace(/[_\s-]/g, "");

/** A CSV header cell → the event field it names (camelCase or snake_case, any case). */
const CSV_FIELDS: Record<string, string> = {
  id: "id",
  eventid: "id",
  decisionid: "decisionId",
  type: "type",
  value: "value",
  cost: "cost",
  occurredat: "occurredAt",
  ip: "ip",
  sourceip: "ip",
  useragent: "userAgent",
  sourceuseragent: "userAgent",
  publisher: "publisher",
  sourcepublisher: "publisher",
  placement: "placement",
  sourceplacement: "placement",
};

function csvEvent(rec: Record<string, string>): Record<string, unknown> {
  const ev: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  for (const [k, raw] of Object.entries(rec)) {
    const f = CSV_FIELDS[headerKey(k)];
    if (!f || raw === undefined || raw === "") continue;
    if (f === "value" || f === "cost") ev[f] = Number(raw);
    else if (f === "ip" || f === "userAgent" || f === "publisher" || f === "placement") source[f] = raw;
    else ev[f] = raw;
  }
  if (Object.keys(source).length) ev.source = source;
  return ev;
}

/** Rows of the file, numbered from 1, each an item checked against the API schema or a reason. */
async function* readRows<T>(
  kind: ImportKind<T>,
  file: string,
  format: "csv" | "jsonl",
  campaign: string | undefined,
  bytesRead: (n: number) => void,
): AsyncGenerator<Row<T>> {
  const input = createReadStream(file);
  input.on("data", () => bytesRead(input.bytesRead));
  const check = (row: number, line: number, raw: unknown): Row<T> => {
    const id = kind.rawId(raw);
    const group = kind.groupOf?.(raw, campaign);
    if (kind.groupOf && !group)
      return { row, line, id, reason: "invalid: campaignId: required in the row, or pass --campaign" };
    const r = kind.schema.safeParse(raw);
    if (r.success) return { row, line, item: r.data, id: kind.idOf(r.data), group };
    const i = r.error.issues[0];
    return { row, line, id, reason: `invalid: ${i.path.join(".") || "row"}: ${i.message}` };
  };
  let row = 0;
  if (format === "csv") {
    const parser = input.pipe(
      parse({ columns: true, bom: true, skip_empty_lines: true, info: true, trim: true, relax_column_count: true }),
    );
    try {
      for await (const { record, info } of parser as AsyncIterable<{
        record: Record<string, string>;
        info: { lines: number };
      }>) {
        row++;
        yield check(row, info.lines, kind.fromCsv(record));
      }
    } catch (err) {
      throw new UsageError(`${file}: ${(err as Error).message}`);
    }
    return;
  }
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    if (text.trim() === "") continue;
    row++;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      yield { row, line, reason: "invalid: not a JSON object" };
      continue;
    }
    yield check(row, line, kind.fromJson(raw));
  }
}

const stringField = (raw: unknown, field: string): string | undefined => {
  const v = (raw as Record<string, unknown> | null)?.[field];
  return typeof v === "string" ? v : undefined;
};

/** Events: `POST /v1/events`, idempotent by event id. */
export const EVENTS: ImportKind<Event> = {
  name: "events",
  schema: EventIn as unknown as z.ZodType<Event>,
  fromCsv: csvEvent,
  fromJson: (raw) => raw,
  idOf: (e) => e.id,
  rawId: (raw) => stringField(raw, "id"),
  send: (client, events, _group, fetch) => client.api.POST("/v1/events", { body: { events }, fetch }),
  results: (data) => (data as EventBatchResult).results,
};

/** A CSV header cell → the imported decision field it names; the export's CSV columns included. */
const DECISION_CSV_FIELDS: Record<string, string> = {
  decisionid: "decisionId",
  id: "decisionId",
  armkey: "armKey",
  arm: "armKey",
  action: "armKey",
  propensity: "propensity",
  decidedat: "decidedAt",
  timestamp: "decidedAt",
  unitid: "unitId",
  context: "context",
  contextjson: "context",
  campaignid: "campaignId",
};

/** Fields of an `adbandit export` line with no place in an import: the reward comes from the events. */
const EXPORT_ONLY = ["reward", "position"];

function csvDecision(rec: Record<string, string>): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(rec)) {
    const f = DECISION_CSV_FIELDS[headerKey(k)];
    if (!f || raw === undefined || raw === "") continue;
    if (f === "propensity") d[f] = Number(raw);
    else if (f === "context") {
      try {
        d[f] = JSON.parse(raw);
      } catch {
        d[f] = raw; // the schema rejects it, naming the field
      }
    } else d[f] = raw;
  }
  return d;
}

/** An export line ({decisionId, timestamp, action, …}) or an ImportedDecision, as an ImportedDecision. */
function jsonDecision(raw: unknown): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const d: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if ("action" in d && !("armKey" in d)) {
    d.armKey = d.action;
    delete d.action;
  }
  if ("timestamp" in d && !("decidedAt" in d)) {
    d.decidedAt = d.timestamp;
    delete d.timestamp;
  }
  for (const k of EXPORT_ONLY) delete d[k];
  return d;
}

/** Decisions: `POST /v1/campaigns/{id}/decisions/import`, idempotent by decision id. */
export const DECISIONS: ImportKind<ImportedDecision> = {
  name: "decisions",
  schema: ImportedDecisionIn as unknown as z.ZodType<ImportedDecision>,
  fromCsv: csvDecision,
  fromJson: jsonDecision,
  idOf: (d) => d.decisionId,
  rawId: (raw) => stringField(raw, "decisionId"),
  // The row's campaignId picks the route; it is not part of the item.
  groupOf: (raw, given) => {
    const own = stringField(raw, "campaignId");
    if (raw && typeof raw === "object") delete (raw as Record<string, unknown>).campaignId;
    return given ?? own;
  },
  send: (client, decisions, campaign, fetch) =>
    client.api.POST("/v1/campaigns/{id}/decisions/import", {
      params: { path: { id: campaign! } },
      body: { decisions },
      fetch,
    }),
  results: (data) => (data as DecisionImportResult).results,
};

export function importEvents(
  client: AdbanditClient,
  opts: ImportOptions,
  onProgress?: (s: ImportSummary) => void,
): Promise<ImportSummary> {
  return importRows(EVENTS, client, opts, onProgress);
}

export function importDecisions(
  client: AdbanditClient,
  opts: ImportOptions,
  onProgress?: (s: ImportSummary) => void,
): Promise<ImportSummary> {
  return importRows(DECISIONS, client, opts, onProgress);
}

export async function importRows<T>(
  kind: ImportKind<T>,
  client: AdbanditClient,
  opts: ImportOptions,
  onProgress?: (s: ImportSummary) => void,
): Promise<ImportSummary> {
  const file = resolve(opts.file);
  if (!existsSync(file)) throw new UsageError(`${opts.file}: no such file`);
  const format = formatOf(file, opts.format);
  const batchSize = opts.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000)
    throw new UsageError("--batch: an integer from 1 to 1000");
  const concurrency = opts.concurrency ?? 2;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16)
    throw new UsageError("--concurrency: an integer from 1 to 16");
  const checkpointPath = resolve(opts.checkpoint ?? `${file}.import.json`);
  const summaryPath = resolve(opts.summary ?? `${file}.summary.json`);
  const rejectsPath = resolve(opts.rejects ?? `${file}.rejected.jsonl`);
  const st = statSync(file);

  let state: Checkpoint = {
    version: 1,
    kind: kind.name,
    ...(opts.campaign ? { campaign: opts.campaign } : {}),
    file,
    size: st.size,
    mtimeMs: st.mtimeMs,
    rowsDone: 0,
    sentUpTo: 0,
    complete: false,
    counts: emptyCounts(),
  };
  if (!opts.restart && existsSync(checkpointPath)) {
    const saved = JSON.parse(readFileSync(checkpointPath, "utf8")) as Checkpoint;
    if (saved.size !== st.size || saved.mtimeMs !== st.mtimeMs)
      throw new UsageError(
        `${opts.file} changed since the checkpoint ${checkpointPath} was written; pass --restart to import it from the first row`,
      );
    if ((saved.kind ?? "events") !== kind.name || saved.campaign !== opts.campaign)
      throw new UsageError(
        `the checkpoint ${checkpointPath} is of an import of ${saved.kind ?? "events"}${saved.campaign ? ` into campaign ${saved.campaign}` : ""}; ` +
          "run that command to resume it, or pass --restart (or another --checkpoint)",
      );
    state = saved;
  } else writeFileSync(rejectsPath, "");
  const resentUpTo = state.sentUpTo;

  const summary = (): ImportSummary => {
    const c = state.counts;
    return {
      file,
      complete: state.complete,
      rows: c.accepted + c.duplicates + c.rejected + c.conflicts,
      ...c,
      checkpoint: checkpointPath,
      rejects: rejectsPath,
      summary: summaryPath,
    };
  };
  const save = () => writeAtomic(checkpointPath, `${JSON.stringify(state, null, 2)}\n`);
  if (state.complete) return summary();

  const bar =
    opts.progress && process.stderr.isTTY
      ? new SingleBar(
          {
            format:
              "{bar} {percentage}% | {rows} rows | {accepted} accepted, {duplicates} duplicate, {rejected} rejected | ETA {eta_formatted}",
            stream: process.stderr,
          },
          Presets.shades_classic,
        )
      : null;
  let bytes = 0;
  const tick = () => {
    const s = summary();
    bar?.update(bytes, {
      rows: s.rows,
      accepted: s.accepted,
      duplicates: s.duplicates,
      rejected: s.rejected + s.conflicts,
    });
    onProgress?.(s);
  };
  bar?.start(st.size, 0, { rows: 0, accepted: 0, duplicates: 0, rejected: 0 });

  // Answers are counted in row order: a batch answered early waits for those before it.
  const answered = new Map<number, { lastRow: number; outcomes: Outcome[] }>();
  let nextToCount = 0;
  const count = () => {
    for (let b = answered.get(nextToCount); b; b = answered.get(nextToCount)) {
      answered.delete(nextToCount);
      nextToCount++;
      const c = state.counts;
      let rejects = "";
      for (const o of b.outcomes) {
        if (o.status === "accepted" || (o.status === "duplicate" && o.maybeSent)) {
          c.accepted++;
          if (o.status === "duplicate") c.recovered++;
          if (o.invalid) c.invalid++;
        } else if (o.status === "duplicate") c.duplicates++;
        else {
          if (o.status === "rejected") c.rejected++;
          else c.conflicts++;
          const reason = o.reason ?? o.status;
          c.reasons[reason] = (c.reasons[reason] ?? 0) + 1;
          rejects += `${JSON.stringify({ line: o.line, id: o.id, status: o.status, reason })}\n`;
        }
      }
      if (rejects) appendFileSync(rejectsPath, rejects);
      state.rowsDone = b.lastRow;
      save();
      tick();
    }
  };

  /** Sends the items, splitting a batch the server refuses as a whole; answers one outcome per row. */
  const send = async (rows: Row<T>[], resent: { value: boolean }): Promise<Outcome[]> => {
    const toSend = rows.filter((r) => r.item);
    let result: ItemResult[] | undefined;
    if (toSend.length) {
      const fetch = retryingFetch({
        ...client.options,
        onRetry: (info) => {
          if (info.error) resent.value = true;
          client.options.onRetry?.(info);
        },
      });
      const r = await kind.send(
        client,
        toSend.map((r) => r.item!),
        toSend[0].group,
        fetch,
      );
      if (!r.response.ok) {
        const err = AdbanditError.fromAnswer(r.response.status, r.error, r.response.headers);
        const whole = err.code === "invalid_request" || err.code === "payload_too_large";
        if (!whole) throw err;
        if (rows.length === 1)
          return [{ ...base(rows[0], resent), status: "rejected", reason: `${err.code}: ${err.message}` }];
        const mid = Math.ceil(rows.length / 2);
        return [...(await send(rows.slice(0, mid), resent)), ...(await send(rows.slice(mid), resent))];
      }
      result = kind.results(r.data);
    }
    let k = 0;
    return rows.map((row) => {
      if (!row.item) return { ...base(row, resent), status: "rejected", reason: row.reason };
      const res = result![k++];
      return { ...base(row, resent), status: res.status, reason: res.reason, invalid: res.invalid };
    });
  };
  const base = (row: Row<T>, resent: { value: boolean }) => ({
    row: row.row,
    line: row.line,
    id: row.id ?? "",
    maybeSent: resent.value || row.row <= resentUpTo,
  });

  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let seq = 0;
  const dispatch = (rows: Row<T>[]) => {
    const mine = seq++;
    const lastRow = rows[rows.length - 1].row;
    state.sentUpTo = Math.max(state.sentUpTo, lastRow);
    save();
    const p = send(rows, { value: false })
      .then((outcomes) => {
        answered.set(mine, { lastRow, outcomes });
        count();
      })
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  try {
    let batch: Row<T>[] = [];
    let group: string | undefined;
    for await (const row of readRows(kind, file, format, opts.campaign, (n) => (bytes = n))) {
      if (failure || opts.signal?.aborted) break;
      if (row.row <= state.rowsDone) continue;
      // A batch goes to one campaign: a row for another one starts the next batch.
      if (row.item) {
        if (group !== undefined && row.group !== group && batch.length) {
          dispatch(batch);
          batch = [];
          while (inflight.size >= concurrency) await Promise.race(inflight);
        }
        group = row.group;
      }
      batch.push(row);
      if (batch.length < batchSize) continue;
      dispatch(batch);
      batch = [];
      group = undefined;
      while (inflight.size >= concurrency) await Promise.race(inflight);
    }
    if (batch.length && !failure && !opts.signal?.aborted) dispatch(batch);
    while (inflight.size) await Promise.race(inflight);
    if (!failure && !opts.signal?.aborted) {
      state.complete = true;
      save();
    }
  } finally {
    while (inflight.size) await Promise.race(inflight);
    bar?.stop();
    writeAtomic(summaryPath, `${JSON.stringify(summary(), null, 2)}\n`);
  }
  if (failure) throw failure;
  return summary();
}
