/**
 * `adbandit import events <file>`: historical events from CSV or JSONL, streamed and sent in batches, with
 * a checkpoint so that an interrupted import resumes where it stopped and counts nothing twice.
 *
 * - Rows are read as a stream (csv-parse / line by line), checked against the API's own event schema
 *   (a bad row is rejected here with its line, instead of failing the 1000 rows sent with it), and sent
 *   `batchSize` at a time with `concurrency` batches in flight.
 * - The checkpoint (JSON, written atomically) holds the contiguous prefix of rows whose answers have been
 *   counted, the counts so far, and `sentUpTo`, the last row that may have reached the server. It is
 *   written before each send and after each counted batch. A rerun skips the counted prefix and resends
 *   the rest; events are idempotent by id, so the server stores each once.
 * - A resent event the server already has comes back `duplicate`. When it may have been sent by this import
 *   before (its row is at most the checkpoint's `sentUpTo`, or the transport retried its batch after a lost
 *   connection), it is counted as accepted (`recovered`), not as a duplicate — so accepted + duplicates over
 *   the interrupted and resumed runs equals the rows of the file. Only an id that was already on the server
 *   before the import started *and* falls in that resent window is counted as accepted though duplicate.
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
import { EventIn } from "../api/schemas.ts";
import type { AdbanditClient, Event } from "../client/index.ts";
import type { EventBatchResult } from "../client/types.ts";
import { AdbanditError } from "../client/errors.ts";
import { retryingFetch } from "../client/transport.ts";
import { UsageError } from "./output.ts";

export interface ImportOptions {
  file: string;
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
  file: string;
  size: number;
  mtimeMs: number;
  rowsDone: number;
  sentUpTo: number;
  complete: boolean;
  counts: Counts;
}

interface Row {
  row: number;
  line: number;
  event?: Event;
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
    const f = CSV_FIELDS[k.toLowerCase().replace(/[_\s-]/g, "")];
    if (!f || raw === undefined || raw === "") continue;
    if (f === "value" || f === "cost") ev[f] = Number(raw);
    else if (f === "ip" || f === "userAgent" || f === "publisher" || f === "placement") source[f] = raw;
    else ev[f] = raw;
  }
  if (Object.keys(source).length) ev.source = source;
  return ev;
}

/** Rows of the file, numbered from 1, each an event checked against the API schema or a reason. */
async function* readRows(file: string, format: "csv" | "jsonl", bytesRead: (n: number) => void): AsyncGenerator<Row> {
  const input = createReadStream(file);
  input.on("data", () => bytesRead(input.bytesRead));
  const check = (row: number, line: number, raw: unknown): Row => {
    const id = typeof (raw as { id?: unknown })?.id === "string" ? (raw as { id: string }).id : undefined;
    const r = EventIn.safeParse(raw);
    if (r.success) return { row, line, event: r.data, id: r.data.id };
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
        yield check(row, info.lines, csvEvent(record));
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
    yield check(row, line, raw);
  }
}

export async function importEvents(
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

  /** Sends the events, splitting a batch the server refuses as a whole; answers one outcome per row. */
  const send = async (rows: Row[], resent: { value: boolean }): Promise<Outcome[]> => {
    const toSend = rows.filter((r) => r.event);
    let result: EventBatchResult | undefined;
    if (toSend.length) {
      const r = await client.api.POST("/v1/events", {
        body: { events: toSend.map((r) => r.event!) },
        fetch: retryingFetch({
          ...client.options,
          onRetry: (info) => {
            if (info.error) resent.value = true;
            client.options.onRetry?.(info);
          },
        }),
      });
      if (!r.response.ok) {
        const err = AdbanditError.fromAnswer(r.response.status, r.error, r.response.headers);
        const whole = err.code === "invalid_request" || err.code === "payload_too_large";
        if (!whole) throw err;
        if (rows.length === 1)
          return [{ ...base(rows[0], resent), status: "rejected", reason: `${err.code}: ${err.message}` }];
        const mid = Math.ceil(rows.length / 2);
        return [...(await send(rows.slice(0, mid), resent)), ...(await send(rows.slice(mid), resent))];
      }
      result = r.data as EventBatchResult;
    }
    let k = 0;
    return rows.map((row) => {
      if (!row.event) return { ...base(row, resent), status: "rejected", reason: row.reason };
      const res = result!.results[k++];
      return { ...base(row, resent), status: res.status, reason: res.reason, invalid: res.invalid };
    });
  };
  const base = (row: Row, resent: { value: boolean }) => ({
    row: row.row,
    line: row.line,
    id: row.id ?? "",
    maybeSent: resent.value || row.row <= resentUpTo,
  });

  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let seq = 0;
  const dispatch = (rows: Row[]) => {
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
    let batch: Row[] = [];
    for await (const row of readRows(file, format, (n) => (bytes = n))) {
      if (failure || opts.signal?.aborted) break;
      if (row.row <= state.rowsDone) continue;
      batch.push(row);
      if (batch.length < batchSize) continue;
      dispatch(batch);
      batch = [];
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
