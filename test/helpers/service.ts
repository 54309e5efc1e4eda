/**
 * Harness for black-box API tests: builds the service in-process on a throwaway database (see db.ts) and
 * talks to it only through `app.request`, the way a client would over HTTP. No test reaches into src/
 * beyond `buildService`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildService, type Service, type ServiceOptions } from "../../src/service.ts";
import { createDatabase, testDatabase, type TestDatabase } from "./db.ts";

export const ADMIN_KEY = "test-admin-key-0123456789";

export interface Reply {
  status: number;
  // Black-box: the body is whatever the server sent; tests assert on its shape.
  // biome-ignore lint/suspicious/noExplicitAny: a response body, whatever the server sent
  body: any;
  text: string;
  headers: Headers;
}

export interface CallOptions {
  body?: unknown;
  /** Raw body text (sent as is, with content-type application/json). */
  raw?: string;
  /** Bearer token; `null` sends no Authorization header. */
  key?: string | null;
  headers?: Record<string, string>;
}

export interface Client {
  call(method: string, path: string, opts?: CallOptions): Promise<Reply>;
  get(path: string): Promise<Reply>;
  post(path: string, body?: unknown): Promise<Reply>;
  patch(path: string, body?: unknown): Promise<Reply>;
}

export interface Workspace extends Client {
  id: string;
  name: string;
  apiKey: string;
}

export interface Harness extends Client {
  service: Service;
  options: ServiceOptions;
  /** Creates a workspace with the admin key and returns a client bound to its API key. */
  workspace(name?: string): Promise<Workspace>;
  /** Closes the service (flushing it) and builds a new one on the same database. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function send(service: Service, method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
    headers["content-type"] = "application/json";
  }
  const res = await service.app.request(`http://test${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  if ((res.headers.get("content-type") ?? "").includes("json") && text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

function client(getService: () => Service, key: string | null): Client {
  const call = (method: string, path: string, opts: CallOptions = {}) =>
    send(getService(), method, path, { key, ...opts });
  return {
    call,
    get: (path) => call("GET", path),
    post: (path, body) => call("POST", path, { body }),
    patch: (path, body) => call("PATCH", path, { body }),
  };
}

export interface HarnessOptions {
  seed?: number;
  refreshIntervalMs?: number;
  /** A database that survives close(): a temp PGlite folder, or a fresh PostgreSQL database. */
  persistent?: boolean;
  /** Further service options (rate limit, key cache, …). */
  service?: Partial<ServiceOptions>;
  /** For suites that date events hours ahead (a simulated timeline): occurredAt tolerance, ms. */
  clockSkewToleranceMs?: number;
}

/** A database whose data survives a service restart: a PGlite folder on disk, or PostgreSQL. */
export async function persistentTestDatabase(): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const db = await createDatabase(url);
    return { options: { databaseUrl: db.url }, drop: db.drop };
  }
  const dir = await mkdtemp(join(tmpdir(), "adbandit-test-"));
  return { options: { dataDir: dir }, drop: () => rm(dir, { recursive: true, force: true }) };
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const db = opts.persistent ? await persistentTestDatabase() : await testDatabase();
  const options: ServiceOptions = {
    ...db.options,
    adminKey: ADMIN_KEY,
    logLevel: process.env.TEST_LOG_LEVEL ?? "silent",
    seed: opts.seed ?? 12345,
    ...(opts.refreshIntervalMs !== undefined ? { refreshIntervalMs: opts.refreshIntervalMs } : {}),
    ...opts.service,
    ...(opts.clockSkewToleranceMs !== undefined ? { clockSkewToleranceMs: opts.clockSkewToleranceMs } : {}),
  };
  let service: Service;
  try {
    service = await buildService(options);
  } catch (e) {
    await db.drop();
    throw e;
  }
  const current = () => service;
  let closed = false;
  const anonymous = client(current, null);
  return {
    ...anonymous,
    get service() {
      return service;
    },
    options,
    async workspace(name = "ws") {
      const r = await send(service, "POST", "/v1/workspaces", { key: ADMIN_KEY, body: { name } });
      if (r.status !== 201) throw new Error(`workspace creation answered ${r.status}: ${r.text}`);
      const { id, apiKey } = r.body as { id: string; apiKey: string };
      return { id, name, apiKey, ...client(current, apiKey) };
    },
    async restart() {
      await service.close();
      service = await buildService(options);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await service.close();
      } finally {
        await db.drop();
      }
    },
  };
}

// ---- request bodies used across suites ------------------------------------------------------------------

export function creativeCampaign(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "spring sale",
    kind: "creative",
    objective: "conversions",
    strategy: { type: "thompson" },
    arms: [
      { key: "a", name: "Creative A", metadata: { url: "https://example.com/a.png" } },
      { key: "b", name: "Creative B" },
      { key: "c", name: "Creative C" },
    ],
    ...overrides,
  };
}

/** Creates a campaign and returns its id, failing loudly with the server's answer otherwise. */
export async function createCampaign(ws: Client, body: Record<string, unknown> = creativeCampaign()): Promise<string> {
  const r = await ws.post("/v1/campaigns", body);
  if (r.status !== 201) throw new Error(`campaign creation answered ${r.status}: ${r.text}`);
  return r.body.id as string;
}

export async function decide(ws: Client, campaignId: string, body: Record<string, unknown> = {}): Promise<Reply> {
  return ws.post(`/v1/campaigns/${campaignId}/decisions`, body);
}

/** GET /v1/campaigns/{id}/arms as a map key → arm row. */
export async function armsByKey(ws: Client, campaignId: string): Promise<Record<string, Record<string, unknown>>> {
  const r = await ws.get(`/v1/campaigns/${campaignId}/arms`);
  if (r.status !== 200) throw new Error(`arms answered ${r.status}: ${r.text}`);
  const rows = listOf(r.body, "arms");
  return Object.fromEntries(rows.map((a) => [a.key as string, a]));
}

/** A list answer: either a bare array or `{<field>: [...]}`. */
export function listOf(body: unknown, field: string): Array<Record<string, unknown>> {
  if (Array.isArray(body)) return body;
  const v = (body as Record<string, unknown> | undefined)?.[field];
  if (Array.isArray(v)) return v as Array<Record<string, unknown>>;
  throw new Error(`expected a list or {${field}: [...]}, got ${JSON.stringify(body)?.slice(0, 200)}`);
}

let eventCounter = 0;
/** A fresh idempotency key per call. */
export function eventId(prefix = "ev"): string {
  eventCounter += 1;
  return `${prefix}-${process.pid}-${eventCounter}`;
}

/** Paths named by an error's details, normalized to dotted strings ("arms.0.key"). */
export function detailPaths(body: unknown): string[] {
  const details = (body as { error?: { details?: Array<{ path?: unknown }> } })?.error?.details ?? [];
  return details.map((d) => (Array.isArray(d.path) ? d.path.join(".") : String(d.path ?? "")));
}

/** Asserts a 400 in the common error shape whose details name `field` (a dotted path or a part of one). */
export function expectInvalid(r: Reply, field: string): void {
  const where = `${r.status} ${r.text.slice(0, 300)}`;
  if (r.status !== 400) throw new Error(`expected 400 naming ${field}, got ${where}`);
  const err = r.body?.error;
  if (err?.code !== "invalid_request" || typeof err.message !== "string") {
    throw new Error(`expected {error:{code:"invalid_request", message}}, got ${where}`);
  }
  const paths = detailPaths(r.body);
  if (!paths.some((p) => p === field || p.includes(field))) {
    throw new Error(`expected details naming ${field}, got paths ${JSON.stringify(paths)}: ${where}`);
  }
}

/** Asserts an error answer `{error:{code, message}}` with this status. */
export function expectError(r: Reply, status: number): void {
  const where = `${r.status} ${r.text.slice(0, 300)}`;
  if (r.status !== status) throw new Error(`expected ${status}, got ${where}`);
  const err = r.body?.error;
  if (typeof err?.code !== "string" || typeof err?.message !== "string") {
    throw new Error(`expected {error:{code, message}}, got ${where}`);
  }
}
