/**
 * `npm run bench:chaos` — database faults under load. A private PostgreSQL instance (initdb in a temp
 * folder, own port; test/helpers/private-pg.ts) and a real service process (src/server.ts) on it; client
 * loops send single decisions, decision batches and event batches (events resent after a 503 until
 * acknowledged, as a client would) while the database is restarted, then stopped for 10 s and started.
 * Prints: faults injected and survived, 503 latency p99 during the outage, time to recover, acknowledged
 * decisions and events lost or stored twice, responses ≥ 500 other than 503.
 *
 *   npx tsx bench/chaos.ts [--clients 16] [--stop-seconds 10] [--json]
 */
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import postgres from "postgres";
import { http, spawnServer } from "../test/helpers/process.ts";
import { privatePgUnavailable, startPrivatePg } from "../test/helpers/private-pg.ts";

export interface ChaosOptions {
  clients: number;
  /** Load before the first fault, between faults and after the last (ms). */
  phaseMs: number;
  stopMs: number;
  /** A request without an answer after this long counts as hung (ms). */
  clientTimeoutMs: number;
  log?: (line: string) => void;
}

export interface ChaosResult {
  faultsInjected: number;
  faultsSurvived: number;
  processAlive: boolean;
  requests: number;
  statusCounts: Record<string, number>;
  /** Answers of 500–599 other than 503, and requests that got no answer (network error or timeout). */
  errors5xx: number;
  noAnswer: number;
  outage503: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
  /** From the database accepting connections again to the first successful decision (ms), per fault. */
  recoverMs: { restart: number | null; stop: number | null };
  decisions: { acknowledged: number; lost: number; duplicated: number };
  events: { acknowledged: number; lost: number; duplicated: number };
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => {});
  const pg = await startPrivatePg();
  const admin = "chaos-admin-key-0123456789";
  let server: Awaited<ReturnType<typeof spawnServer>> | null = null;
  try {
    server = await spawnServer({
      env: {
        DATABASE_URL: pg.url,
        ADBANDIT_ADMIN_KEY: admin,
        ADBANDIT_RATE_LIMIT: "off",
        LOG_LEVEL: "warn",
        ADBANDIT_DATA_DIR: undefined,
      },
    });
    const base = server.url;
    const ws = await http(base, "POST", "/v1/workspaces", admin, { name: "chaos" });
    const key = ws.body.apiKey as string;
    const camp = await http(base, "POST", "/v1/campaigns", key, {
      name: "chaos",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }, { key: "b" }, { key: "c" }],
    });
    const campaignId = camp.body.id as string;

    const records: { t0: number; ms: number; status: number; kind: string }[] = [];
    const ackDecisions = new Set<string>();
    const ackEvents = new Set<string>();
    const pendingEvents: { id: string; decisionId: string }[] = [];
    let stopping = false;

    const call = async (kind: string, path: string, body: unknown) => {
      const t0 = performance.now();
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), o.clientTimeoutMs);
      let status = 0;
      let parsed: unknown;
      try {
        const r = await fetch(`${base}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: ac.signal,
        });
        status = r.status;
        const text = await r.text();
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        status = 0;
      } finally {
        clearTimeout(timer);
      }
      records.push({ t0, ms: performance.now() - t0, status, kind });
      return { status, body: parsed as Record<string, unknown> | undefined };
    };

    const loop = async (c: number) => {
      let i = 0;
      while (!stopping) {
        i++;
        const roll = (c * 7919 + i * 104729) % 10;
        if (roll < 6) {
          const r = await call("decision", `/v1/campaigns/${campaignId}/decisions`, { unitId: `u${c}-${i}` });
          if (r.status === 201) {
            const id = r.body?.decisionId as string;
            ackDecisions.add(id);
            if (i % 2 === 0) pendingEvents.push({ id: randomUUID(), decisionId: id });
          }
        } else if (roll < 8) {
          const r = await call("batch", "/v1/decisions/batch", {
            requests: Array.from({ length: 10 }, (_, j) => ({ campaignId, unitId: `b${c}-${i}-${j}` })),
          });
          if (r.status === 200)
            for (const d of (r.body?.decisions as { decisionId?: string }[]) ?? [])
              if (d.decisionId) ackDecisions.add(d.decisionId);
        } else {
          const batch = pendingEvents.splice(0, 20);
          if (batch.length === 0) continue;
          const r = await call("events", "/v1/events", {
            events: batch.map((e) => ({ id: e.id, decisionId: e.decisionId, type: "click" })),
          });
          if (r.status === 200) {
            for (const res of (r.body?.results as { id: string; status: string }[]) ?? [])
              if (res.status === "accepted" || res.status === "duplicate") ackEvents.add(res.id);
          } else pendingEvents.push(...batch); // resent later with the same ids
        }
        if (
          records.length > 0 &&
          records[records.length - 1]!.status !== 201 &&
          records[records.length - 1]!.status !== 200
        )
          await new Promise((r) => setTimeout(r, 20));
      }
    };

    const firstSuccessAfter = (t: number) => {
      const ok = records.filter((r) => r.t0 >= t && (r.status === 201 || r.status === 200) && r.kind === "decision");
      return ok.length ? Math.min(...ok.map((r) => r.t0 + r.ms)) - t : null;
    };
    const alive = () => server !== null && server.child.exitCode === null && server.child.signalCode === null;

    const loops = Array.from({ length: o.clients }, (_, c) => loop(c));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let survived = 0;
    await sleep(o.phaseMs);

    log("fault 1: PostgreSQL restart (fast)");
    await pg.restart();
    const restartedAt = performance.now();
    await sleep(o.phaseMs);
    if (alive()) survived++;

    log(`fault 2: PostgreSQL stopped for ${o.stopMs / 1000} s`);
    await pg.stop();
    const stoppedAt = performance.now();
    await sleep(o.stopMs);
    const outageEnd = performance.now();
    await pg.start();
    const startedAt = performance.now();
    await sleep(o.phaseMs);
    if (alive()) survived++;

    stopping = true;
    await Promise.all(loops);
    // Events still pending (their decisions were acknowledged): send until acknowledged.
    for (let tries = 0; pendingEvents.length > 0 && tries < 50; tries++) {
      const batch = pendingEvents.splice(0, 100);
      const r = await call("events", "/v1/events", {
        events: batch.map((e) => ({ id: e.id, decisionId: e.decisionId, type: "click" })),
      });
      if (r.status === 200) {
        for (const res of (r.body?.results as { id: string; status: string }[]) ?? [])
          if (res.status === "accepted" || res.status === "duplicate") ackEvents.add(res.id);
      } else {
        pendingEvents.push(...batch);
        await sleep(200);
      }
    }

    const outage = records.filter((r) => r.status === 503 && r.t0 >= stoppedAt && r.t0 < outageEnd).map((r) => r.ms);
    const statusCounts: Record<string, number> = {};
    for (const r of records) statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1;

    // What the database holds for the acknowledged ids.
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
    let decisionsFound = 0;
    let decisionsDup = 0;
    let eventsFound = 0;
    let eventsDup = 0;
    try {
      const ids = [...ackDecisions];
      for (let i = 0; i < ids.length; i += 5000) {
        const [r] =
          await sql`select count(*)::int as n, count(distinct id)::int as d from decisions where id = any(${ids.slice(i, i + 5000)}::uuid[])`;
        decisionsFound += r!.d;
        decisionsDup += r!.n - r!.d;
      }
      const evs = [...ackEvents];
      for (let i = 0; i < evs.length; i += 5000) {
        const [r] =
          await sql`select count(*)::int as n, count(distinct event_id)::int as d from events where event_id = any(${evs.slice(i, i + 5000)}::text[])`;
        eventsFound += r!.d;
        eventsDup += r!.n - r!.d;
      }
    } finally {
      await sql.end({ timeout: 1 });
    }

    return {
      faultsInjected: 2,
      faultsSurvived: survived,
      processAlive: alive(),
      requests: records.length,
      statusCounts,
      errors5xx: records.filter((r) => r.status >= 500 && r.status !== 503).length,
      noAnswer: records.filter((r) => r.status === 0).length,
      outage503: {
        count: outage.length,
        p50Ms: quantile(outage, 0.5),
        p99Ms: quantile(outage, 0.99),
        maxMs: outage.length ? Math.max(...outage) : Number.NaN,
      },
      recoverMs: { restart: firstSuccessAfter(restartedAt), stop: firstSuccessAfter(startedAt) },
      decisions: {
        acknowledged: ackDecisions.size,
        lost: ackDecisions.size - decisionsFound,
        duplicated: decisionsDup,
      },
      events: { acknowledged: ackEvents.size, lost: ackEvents.size - eventsFound, duplicated: eventsDup },
    };
  } finally {
    if (server) await server.stop("SIGTERM", 20_000).catch(() => null);
    await pg.destroy();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, def: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const why = privatePgUnavailable();
  if (why) {
    console.log(`bench:chaos skipped: ${why}`);
    return;
  }
  const r = await runChaos({
    clients: arg("clients", 16),
    phaseMs: arg("phase-seconds", 5) * 1000,
    stopMs: arg("stop-seconds", 10) * 1000,
    clientTimeoutMs: 15_000,
    log: (l) => console.log(`[chaos] ${l}`),
  });
  if (args.includes("--json")) {
    console.log(JSON.stringify(r));
    return;
  }
  const f = (x: number | null) => (x === null || Number.isNaN(x) ? "n/a" : `${Math.round(x)} ms`);
  console.log(
    `faults injected / survived     ${r.faultsInjected} / ${r.faultsSurvived} (process alive: ${r.processAlive})`,
  );
  console.log(`requests                       ${r.requests}  ${JSON.stringify(r.statusCounts)}`);
  console.log(
    `503 latency during the outage  p50 ${f(r.outage503.p50Ms)}, p99 ${f(r.outage503.p99Ms)}, max ${f(r.outage503.maxMs)} (${r.outage503.count} answers)`,
  );
  console.log(
    `time to recover                after restart ${f(r.recoverMs.restart)}, after the stop ${f(r.recoverMs.stop)}`,
  );
  console.log(
    `decisions acknowledged         ${r.decisions.acknowledged}: lost ${r.decisions.lost}, duplicated ${r.decisions.duplicated}`,
  );
  console.log(
    `events acknowledged            ${r.events.acknowledged}: lost ${r.events.lost}, duplicated ${r.events.duplicated}`,
  );
  console.log(`responses ≥ 500 (not 503)      ${r.errors5xx}; no answer ${r.noAnswer}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
