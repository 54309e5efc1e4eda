/**
 * The database going away while the service runs (PostgreSQL only): the service is reached through a TCP
 * proxy that the test cuts. Every call that needs the database then answers 503 in the error shape —
 * quickly, never hanging — and nothing is a 500; once the proxy is back, the service answers again
 * without a restart.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildService, type Service } from "../../src/service.ts";
import { createDatabase } from "../helpers/db.ts";
import { ADMIN_KEY } from "../helpers/service.ts";

const DATABASE_URL = process.env.DATABASE_URL;
if (!DATABASE_URL) console.warn("[outage] skipped: set DATABASE_URL to cut a PostgreSQL connection under the service");

/** A TCP proxy to the PostgreSQL server that can be cut (all sockets destroyed, listener closed) and restored. */
class TcpProxy {
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  port = 0;
  constructor(
    private targetHost: string,
    private targetPort: number,
  ) {}
  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    const addr = this.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
  }
  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }
}

/** Resolves with the response, or throws if none came within `ms` (a hang is the failure here). */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

describe.runIf(Boolean(DATABASE_URL))("database outage while running (PostgreSQL)", () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let proxy: TcpProxy;
  let svc: Service;
  beforeAll(async () => {
    db = await createDatabase(DATABASE_URL as string);
    const u = new URL(db.url);
    proxy = new TcpProxy(u.hostname, Number(u.port || 5432));
    await proxy.start();
    u.hostname = "127.0.0.1";
    u.port = String(proxy.port);
    svc = await buildService({ databaseUrl: u.toString(), adminKey: ADMIN_KEY, logLevel: "silent", seed: 4 });
  });
  afterAll(async () => {
    await svc?.close().catch(() => {});
    await proxy?.cut().catch(() => {});
    await db?.drop();
  });

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const r = await svc.app.request(`http://test${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, text, body: text ? JSON.parse(text) : undefined };
  };

  it("answers 503 quickly while the database is unreachable, and recovers when it is back", {
    timeout: 90_000,
  }, async () => {
    const ws = await call("POST", "/v1/workspaces", ADMIN_KEY, { name: "outage" });
    expect(ws.status).toBe(201);
    const key = ws.body.apiKey as string;
    const c = await call("POST", "/v1/campaigns", key, {
      name: "c",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }, { key: "b" }],
    });
    expect(c.status).toBe(201);
    const d = await call("POST", `/v1/campaigns/${c.body.id}/decisions`, key, {});
    expect(d.status).toBe(201);

    await proxy.cut();

    const health = await within(10_000, call("GET", "/healthz", key), "healthz");
    expect(health.status).toBe(503);
    const decision = await within(15_000, call("POST", `/v1/campaigns/${c.body.id}/decisions`, key, {}), "decision");
    expect(decision.status, decision.text).toBe(503);
    expect(typeof decision.body.error.code).toBe("string");
    const events = await within(
      15_000,
      call("POST", "/v1/events", key, { events: [{ id: "o1", decisionId: d.body.decisionId, type: "conversion" }] }),
      "events",
    );
    expect(events.status, events.text).toBe(503);
    const created = await within(
      15_000,
      call("POST", "/v1/campaigns", key, {
        name: "x",
        kind: "creative",
        objective: "conversions",
        strategy: { type: "thompson" },
        arms: [{ key: "a" }],
      }),
      "campaign",
    );
    expect(created.status, created.text).toBe(503);

    await proxy.start(); // same port again
    let healthy = false;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if ((await within(10_000, call("GET", "/healthz", key), "healthz after")).status === 200) {
        healthy = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(healthy).toBe(true);
    const after = await call("POST", `/v1/campaigns/${c.body.id}/decisions`, key, {});
    expect(after.status, after.text).toBe(201);
    const ev = await call("POST", "/v1/events", key, {
      events: [{ id: "o1", decisionId: d.body.decisionId, type: "conversion" }],
    });
    expect(ev.status, ev.text).toBe(200);
    expect(ev.body.accepted).toBe(1);
  });
});
