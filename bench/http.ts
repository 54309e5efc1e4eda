/**
 * HTTP benchmark of the decision service (`npm run bench:http`).
 *
 * Starts the service (`src/server.ts`) in a child process on a fresh PostgreSQL database, creates a
 * workspace and a Thompson-sampling campaign of 10 arms, and drives it with autocannon at a fixed
 * concurrency: single decisions (decisions/s, p50/p99 latency), then event batches (events/s). A bare hono
 * JSON endpoint, in its own child process and measured the same way right before and right after each
 * decisions run (the load of a shared machine drifts), gives the ceiling of this machine and stack; the
 * ratio to it says how much the service's own work costs. BENCH_ROUNDS decisions runs alternate with the
 * ceiling runs, and the medians over rounds are reported (each round's figures are printed too). Finally
 * it checks that the number of decisions logged in the database equals the number answered 201.
 *
 * Each measured run asks a fixed number of requests sized from a short calibration run (≈ the target
 * duration), so every request is answered and "answered 201" is exact (a duration-bounded run aborts
 * requests in flight at the end). Target from the issue: ≥ 5,000 decisions/s, p99 ≤ 25 ms, each logged.
 *
 * CPU: the user + system CPU time of the server process (Linux /proc/<pid>/stat of the child) during a
 * measured run, divided by the requests it answered: the CPU microseconds one decision costs the service,
 * and one request the bare hono ceiling. Their ratio (ceiling µs / decision µs) is the throughput ratio
 * without the noise of a shared machine's load. The database's CPU per decision and per event is that of the
 * PostgreSQL backends serving the benchmark's database (bench/proc.ts `databaseCpuSeconds`).
 *
 * Env: DATABASE_URL (server; default postgres://postgres@127.0.0.1:5432/postgres), BENCH_CONNECTIONS
 * (default 32), BENCH_SECONDS (default 10), BENCH_EVENT_BATCH (default 100), BENCH_ROUNDS (default 3).
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { cpus, loadavg } from "node:os";
import postgres from "postgres";
import { createDatabase } from "../test/helpers/db.ts";
import { http, spawnServer, type ServerProcess } from "../test/helpers/process.ts";
import { cpuSeconds, databaseCpuSeconds } from "./proc.ts";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const EVENT_BATCH = Number(process.env.BENCH_EVENT_BATCH ?? 100);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const ADMIN = `bench-admin-${randomUUID()}`;

interface Run {
  answered2xx: number;
  non2xx: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU microseconds the server process spent per 2xx answer during the run (NaN when unknown). */
  cpuPerRequest: number;
  /** CPU microseconds PostgreSQL's processes spent per 2xx answer during the run (NaN when unknown). */
  dbCpuPerRequest: number;
}

// autocannon ships no type declarations: the part of its API used here.
interface RequestSpec {
  method?: string;
  path?: string;
  body?: string;
  setupRequest?: (req: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown>;
  onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
}
interface AutocannonResult {
  "2xx": number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number };
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  amount?: number;
  duration?: number;
  headers: Record<string, string>;
  requests: RequestSpec[];
  timeout: number;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

/** User + system CPU time of a process so far, in microseconds. */
const cpuMicros = (pid: number | undefined) => cpuSeconds(pid) * 1e6;

async function cannon(
  url: string,
  headers: Record<string, string>,
  request: RequestSpec,
  amount?: number,
  duration?: number,
  pid?: number,
  dbCpu?: () => Promise<number>,
): Promise<Run> {
  const cpuBefore = cpuMicros(pid);
  const dbBefore = dbCpu ? await dbCpu() : Number.NaN;
  const started = process.hrtime.bigint();
  const r = await autocannon({
    url,
    connections: CONNECTIONS,
    ...(amount ? { amount } : { duration: duration ?? 2 }),
    headers: { "content-type": "application/json", ...headers },
    requests: [request],
    timeout: 10,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuMicros(pid) - cpuBefore;
  const dbMicros = ((dbCpu ? await dbCpu() : Number.NaN) - dbBefore) * 1e6;
  const answered2xx = r["2xx"];
  return {
    answered2xx,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    seconds,
    rps: answered2xx / seconds,
    p50: r.latency.p50,
    p99: r.latency.p99,
    cpuPerRequest: cpu / answered2xx,
    dbCpuPerRequest: dbMicros / answered2xx,
  };
}

/** Calibrate for ~2 s, then ask as many requests as fit in SECONDS at that rate. */
async function measured(
  url: string,
  headers: Record<string, string>,
  request: RequestSpec,
  pid?: number,
): Promise<Run> {
  const cal = await cannon(url, headers, request, undefined, 2);
  const amount = Math.max(CONNECTIONS * 10, Math.round(cal.rps * SECONDS));
  return cannon(url, headers, request, amount, undefined, pid);
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
  const base = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const db = await createDatabase(base, "adbandit_bench_");
  const procs: ServerProcess[] = [];
  const cleanup = async () => {
    for (const p of procs) await p.stop("SIGTERM").catch(() => null);
    await db.drop().catch((e) => console.error("could not drop", db.name, e));
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    // ---- the ceiling server stays up (idle) so it can be measured right before and right after the
    // decisions run: on a shared machine the load drifts, and the ratio must compare like with like ----
    const ceilingProc = await spawnCeiling();
    procs.push(ceilingProc);
    const ceilingRun = () =>
      measured(
        `${ceilingProc.url}/decide`,
        {},
        { method: "POST", body: JSON.stringify({ campaignId: "x", unitId: "u" }) },
        ceilingProc.child.pid,
      );

    // ---- the service ----
    const svc = await spawnServer({
      env: { DATABASE_URL: db.url, ADBANDIT_ADMIN_KEY: ADMIN, LOG_LEVEL: "warn", NODE_ENV: "production" },
    });
    procs.push(svc);
    // the database's own backends (other databases on a shared server are not counted)
    const statsSql = postgres(db.url, { max: 1, onnotice: () => {} });
    const dbCpu = () => databaseCpuSeconds(statsSql);
    const ws = await http(svc.url, "POST", "/v1/workspaces", ADMIN, { name: "bench" });
    if (ws.status !== 201) throw new Error(`workspace: ${ws.status} ${ws.text}`);
    const key = ws.body.apiKey as string;
    const auth = { authorization: `Bearer ${key}` };
    const campaign = async (name: string) => {
      const r = await http(svc.url, "POST", "/v1/campaigns", key, {
        name,
        kind: "creative",
        objective: "conversions",
        strategy: { type: "thompson" },
        arms: Array.from({ length: 10 }, (_, i) => ({ key: `a${i}`, name: `arm ${i}` })),
      });
      if (r.status !== 201) throw new Error(`campaign: ${r.status} ${r.text}`);
      return r.body.id as string;
    };
    const decisionsCampaign = await campaign("bench decisions");
    const warmCampaign = await campaign("bench warm-up");
    const eventsCampaign = await campaign("bench events");

    // warm-up on its own campaign (JIT, pools), not counted
    await cannon(
      `${svc.url}/v1/campaigns/${warmCampaign}/decisions`,
      auth,
      { method: "POST", body: "{}" },
      undefined,
      2,
    );

    // decisions
    const decisionsCal = await cannon(
      `${svc.url}/v1/campaigns/${warmCampaign}/decisions`,
      auth,
      { method: "POST", body: JSON.stringify({ unitId: "u" }) },
      undefined,
      2,
    );
    const amount = Math.max(CONNECTIONS * 10, Math.round(decisionsCal.rps * SECONDS));
    // ROUNDS decisions runs, each between two ceiling runs: per round the ratio to the mean of the
    // ceiling right before and right after it; the medians over rounds are reported (the machine is shared).
    const ceilings: Run[] = [await ceilingRun()];
    const rounds: { decisions: Run; ceilingRps: number; ceilingCpu: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const decisions = await cannon(
        `${svc.url}/v1/campaigns/${decisionsCampaign}/decisions`,
        auth,
        { method: "POST", body: JSON.stringify({ unitId: "u" }) },
        amount,
        undefined,
        svc.child.pid,
        dbCpu,
      );
      ceilings.push(await ceilingRun());
      const [before, after] = [ceilings[r]!, ceilings[r + 1]!];
      rounds.push({
        decisions,
        ceilingRps: (before.rps + after.rps) / 2,
        ceilingCpu: (before.cpuPerRequest + after.cpuPerRequest) / 2,
      });
    }
    await ceilingProc.stop("SIGTERM");
    procs.splice(procs.indexOf(ceilingProc), 1);
    const ratios = rounds.map((r) => r.decisions.rps / r.ceilingRps);
    const ratio = median(ratios);
    const cpuRatio = median(rounds.map((r) => r.ceilingCpu / r.decisions.cpuPerRequest));
    // The round of median ratio gives the latencies shown; every other figure is its own median.
    const middle = rounds[ratios.indexOf(ratio)]!;
    const decisions = {
      rps: median(rounds.map((r) => r.decisions.rps)),
      p50: middle.decisions.p50,
      p99: middle.decisions.p99,
      cpuPerRequest: median(rounds.map((r) => r.decisions.cpuPerRequest)),
      dbCpuPerRequest: median(rounds.map((r) => r.decisions.dbCpuPerRequest)),
      answered2xx: rounds.reduce((t, r) => t + r.decisions.answered2xx, 0),
      non2xx: rounds.reduce((t, r) => t + r.decisions.non2xx, 0),
      errors: rounds.reduce((t, r) => t + r.decisions.errors, 0),
    };
    const ceiling = {
      rps: median(rounds.map((r) => r.ceilingRps)),
      p50: Math.max(...ceilings.map((c) => c.p50)),
      p99: Math.max(...ceilings.map((c) => c.p99)),
      cpuPerRequest: median(rounds.map((r) => r.ceilingCpu)),
    };

    // a pool of decisions to send feedback for
    const pool: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await http(svc.url, "POST", "/v1/decisions/batch", key, {
        requests: Array.from({ length: 1000 }, (_, j) => ({ campaignId: eventsCampaign, unitId: `p${i}-${j}` })),
      });
      if (r.status !== 200) throw new Error(`batch: ${r.status} ${r.text}`);
      for (const d of r.body.decisions) pool.push(d.decisionId);
    }

    // events, in batches of EVENT_BATCH, every id unique
    let seq = 0;
    let accepted = 0;
    const eventRequest: RequestSpec = {
      method: "POST",
      path: "/v1/events",
      setupRequest: (req) => {
        const events = [];
        for (let i = 0; i < EVENT_BATCH; i++) {
          const k = seq++;
          events.push({
            id: `e${k}`,
            decisionId: pool[(k * 7919) % pool.length],
            type: k % 2 ? "click" : "conversion",
            ...(k % 2 ? { cost: 0.01 } : { value: 1 }),
          });
        }
        return { ...req, body: JSON.stringify({ events }) };
      },
      onResponse: (status, body) => {
        if (status === 200) accepted += (JSON.parse(body) as { accepted: number }).accepted;
      },
    };
    // calibrate on the same request, then count only the measured run (a duration-bounded calibration
    // aborts requests in flight whose events may still commit: let them land first)
    const eventsCal = await cannon(svc.url, auth, eventRequest, undefined, 2);
    await new Promise((r) => setTimeout(r, 1500));
    const sqlPre = postgres(db.url, { max: 1, onnotice: () => {} });
    const storedBefore = (
      await sqlPre<{ n: number }[]>`select count(*)::int as n from events where campaign_id = ${eventsCampaign}`
    )[0].n;
    await sqlPre.end();
    accepted = 0;
    const eventsRun = await cannon(
      svc.url,
      auth,
      eventRequest,
      Math.max(CONNECTIONS * 2, Math.round(eventsCal.rps * SECONDS)),
      undefined,
      svc.child.pid,
      dbCpu,
    );
    const eventsPerSecond = (eventsRun.answered2xx * EVENT_BATCH) / eventsRun.seconds;

    // every decision answered 201 is logged (durably before the answer: count before and after stopping)
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const count = async () =>
      (await sql<{ n: number }[]>`select count(*)::int as n from decisions where campaign_id = ${decisionsCampaign}`)[0]
        .n;
    const loggedBeforeStop = await count();
    const exitCode = await svc.stop("SIGTERM");
    procs.splice(procs.indexOf(svc), 1);
    const loggedAfterStop = await count();
    const eventsStored =
      (await sql<{ n: number }[]>`select count(*)::int as n from events where campaign_id = ${eventsCampaign}`)[0].n -
      storedBefore;
    await sql.end();
    await statsSql.end();

    const rows: Array<[string, string]> = [
      ["connections", String(CONNECTIONS)],
      ["rounds (decisions runs, each between two ceiling runs)", String(ROUNDS)],
      ["ceiling (bare hono JSON) req/s, each run", ceilings.map((c) => fmt(c.rps)).join(" / ")],
      ["ceiling p50 / p99 ms", `${ceiling.p50} / ${ceiling.p99}`],
      ["decisions/s, each round", rounds.map((r) => fmt(r.decisions.rps)).join(" / ")],
      ["decisions/s (median)", fmt(decisions.rps)],
      ["decisions p50 / p99 ms", `${decisions.p50} / ${decisions.p99}`],
      ["decisions: ratio to ceiling, each round", ratios.map((x) => x.toFixed(3)).join(" / ")],
      ["decisions: ratio to ceiling (median)", ratio.toFixed(3)],
      ["service CPU µs per decision, each round", rounds.map((r) => r.decisions.cpuPerRequest.toFixed(1)).join(" / ")],
      ["service CPU µs per decision (median)", decisions.cpuPerRequest.toFixed(1)],
      ["database CPU µs per decision", decisions.dbCpuPerRequest.toFixed(1)],
      ["ceiling CPU µs per request", ceiling.cpuPerRequest.toFixed(1)],
      ["CPU ratio (ceiling µs / decision µs), median", cpuRatio.toFixed(3)],
      ["decisions answered 201 (all rounds)", String(decisions.answered2xx)],
      ["decisions non-2xx / errors", `${decisions.non2xx} / ${decisions.errors}`],
      ["decisions logged in DB (before / after SIGTERM)", `${loggedBeforeStop} / ${loggedAfterStop}`],
      [`events/s (batches of ${EVENT_BATCH})`, fmt(eventsPerSecond)],
      ["event batches p50 / p99 ms", `${eventsRun.p50} / ${eventsRun.p99}`],
      [
        "service / database CPU µs per event",
        `${(eventsRun.cpuPerRequest / EVENT_BATCH).toFixed(1)} / ${(eventsRun.dbCpuPerRequest / EVENT_BATCH).toFixed(1)}`,
      ],
      ["events accepted / stored (measured run)", `${accepted} / ${eventsStored}`],
      ["events non-2xx / errors", `${eventsRun.non2xx} / ${eventsRun.errors}`],
      ["service exit code on SIGTERM", String(exitCode)],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    const load = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    console.log(
      `\nadbandit HTTP benchmark — PostgreSQL, ${CONNECTIONS} connections, ~${SECONDS} s per run, ${cpus().length} CPUs, load average at start ${loadAtStart}, now ${load}\n`,
    );
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    console.log("");

    const line = (metric: string, value: number, unit: string, extra: Record<string, unknown> = {}) =>
      console.log(
        JSON.stringify({
          bench: "http",
          metric,
          value: round(value),
          unit,
          connections: CONNECTIONS,
          load_avg_1m: round(loadavg()[0]),
          ...extra,
        }),
      );
    line("ceiling_requests_per_s", ceiling.rps, "req/s", {
      runs: ceilings.map((c) => round(c.rps)),
      p50_ms: ceiling.p50,
      p99_ms: ceiling.p99,
    });
    line("decisions_per_s", decisions.rps, "decisions/s", {
      rounds: rounds.map((r) => round(r.decisions.rps)),
      p50_ms: decisions.p50,
      p99_ms: decisions.p99,
      answered_201: decisions.answered2xx,
    });
    line("decisions_ratio_to_ceiling", ratio, "ratio", { rounds: ratios.map(round) });
    line("service_cpu_us_per_decision", decisions.cpuPerRequest, "us", {
      ceiling_cpu_us_per_request: round(ceiling.cpuPerRequest),
      cpu_ratio_to_ceiling: round(cpuRatio),
      rounds: rounds.map((r) => round(r.decisions.cpuPerRequest)),
      db_cpu_us_per_decision: round(decisions.dbCpuPerRequest),
    });
    line("events_per_s", eventsPerSecond, "events/s", {
      batch: EVENT_BATCH,
      service_cpu_us_per_event: round(eventsRun.cpuPerRequest / EVENT_BATCH),
      db_cpu_us_per_event: round(eventsRun.dbCpuPerRequest / EVENT_BATCH),
      p50_ms: eventsRun.p50,
      p99_ms: eventsRun.p99,
    });
    line("decisions_logged", loggedAfterStop, "rows", {
      answered_201: decisions.answered2xx,
      before_stop: loggedBeforeStop,
    });

    const problems: string[] = [];
    if (loggedBeforeStop !== decisions.answered2xx)
      problems.push(`decisions logged before stop ${loggedBeforeStop} ≠ answered 201 ${decisions.answered2xx}`);
    if (loggedAfterStop !== decisions.answered2xx)
      problems.push(`decisions logged after stop ${loggedAfterStop} ≠ answered 201 ${decisions.answered2xx}`);
    if (decisions.non2xx + decisions.errors > 0) problems.push("some decisions failed");
    if (eventsRun.non2xx + eventsRun.errors > 0) problems.push("some event batches failed");
    if (accepted !== eventsStored) problems.push(`events accepted ${accepted} ≠ stored ${eventsStored}`);
    if (exitCode !== 0) problems.push(`service exited with ${exitCode} on SIGTERM`);
    if (problems.length > 0) {
      for (const p of problems) console.error(`FAIL: ${p}`);
      process.exitCode = 1;
    }
  } finally {
    await cleanup();
  }
}

function spawnCeiling(): Promise<ServerProcess> {
  return spawnServer({ entry: "bench/http.ts", args: ["--ceiling"], env: { NODE_ENV: "production" } });
}

function fmt(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  // An odd count's middle; an even count's lower middle (a figure that was measured, not interpolated).
  return s[(s.length - 1) >> 1]!;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

// ---- the ceiling: a bare hono JSON endpoint, run as `tsx bench/http.ts --ceiling` --------------------------
async function ceilingServer(): Promise<void> {
  const { Hono } = await import("hono");
  const { serve } = await import("@hono/node-server");
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.post("/decide", async (c) => {
    const body = (await c.req.json()) as Record<string, unknown>;
    return c.json(
      {
        decisionId: randomUUID(),
        campaignId: body.campaignId ?? null,
        arm: { key: "a3", name: "arm 3", metadata: {} },
        propensity: 0.1,
      },
      201,
    );
  });
  const server = serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" });
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// Dispatch last: everything above is initialised by now.
if (process.argv.includes("--ceiling")) await ceilingServer();
else await main();
