/**
 * Many campaigns (`npm run bench:campaigns`): for each size, a database of its own on the PostgreSQL
 * server (created, then dropped), seeded with set-based INSERTs (bench/campaigns-seed.ts: campaigns of 10
 * Thompson-sampling arms with totals and a bucket each), then the service (`src/server.ts`, a child
 * process) measured:
 *
 * - start-up: spawn → first 200 from /healthz, `--repeats` times (median);
 * - resident memory (VmRSS) idle, after start-up and once the background preload is done, and under load;
 * - idle CPU: the service's user + system CPU over `--idle-seconds` with no traffic (% of one core);
 * - decisions/s and p99 with decisions spread uniformly over all campaigns (autocannon, `--connections`,
 *   `--seconds` per run, `--repeats` runs: medians);
 * - first-decision latency for a campaign not in memory: campaigns inserted after start-up (so the
 *   service has never seen them), decided one after another (median and p99 of `--cold`).
 *
 * Flags: --sizes 1000,10000,100000  --arms 10  --seconds 8  --repeats 3  --idle-seconds 10
 *        --connections 32  --cold 40  --max-live <ADBANDIT_MAX_LIVE_CAMPAIGNS for the service; default
 *        the service's own, 10,000>. Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { createDatabase } from "../test/helpers/db.ts";
import { http, spawnServer, type ServerProcess } from "../test/helpers/process.ts";
import { seedCampaigns } from "./campaigns-seed.ts";
import { cpuSeconds } from "./proc.ts";

const { values: flags } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,10000,100000" },
    arms: { type: "string", default: "10" },
    seconds: { type: "string", default: "8" },
    repeats: { type: "string", default: "3" },
    "idle-seconds": { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    cold: { type: "string", default: "40" },
    "max-live": { type: "string" },
  },
});
const SIZES = flags.sizes.split(",").map((s) => Number(s.trim()));
const ARMS = Number(flags.arms);
const SECONDS = Number(flags.seconds);
const REPEATS = Number(flags.repeats);
const IDLE_SECONDS = Number(flags["idle-seconds"]);
const CONNECTIONS = Number(flags.connections);
const COLD = Number(flags.cold);
const MAX_LIVE = flags["max-live"];
const ADMIN = `bench-admin-${randomUUID()}`;

// autocannon ships no type declarations: the part of its API used here.
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
  duration: number;
  headers: Record<string, string>;
  requests: { method: string; body: string; setupRequest: (r: Record<string, unknown>) => Record<string, unknown> }[];
  timeout: number;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

/** Resident memory of a process in MB (Linux /proc). */
function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length
    ? s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
    : Number.NaN;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SizeResult {
  size: number;
  seedSeconds: number;
  startupSeconds: number[];
  rssReadyMb: number;
  rssIdleMb: number;
  idleCpuPct: number;
  rssLoadMb: number;
  rps: number[];
  p99: number[];
  non2xx: number;
  coldMs: number[];
  /** 503s of the health gate during the cold decisions (asked again). */
  unavailable: number;
  live: string;
}

async function measureSize(base: string, size: number): Promise<SizeResult> {
  const db = await createDatabase(base, "adbandit_benchc_");
  const procs: ServerProcess[] = [];
  const sql = postgres(db.url, { onnotice: () => {}, max: 2 });
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    ADBANDIT_ADMIN_KEY: ADMIN,
    LOG_LEVEL: "warn",
    NODE_ENV: "production",
    ADBANDIT_RATE_LIMIT: "off",
    ADBANDIT_JOB_CONSISTENCY: "off",
    ...(MAX_LIVE ? { ADBANDIT_MAX_LIVE_CAMPAIGNS: MAX_LIVE } : {}),
  };
  try {
    // migrate and create the workspace through the service, then seed with set-based INSERTs
    const first = await spawnServer({ env });
    procs.push(first);
    const w = await http(first.url, "POST", "/v1/workspaces", ADMIN, { name: "bench" });
    if (w.status !== 201) throw new Error(`workspace: ${w.status} ${w.text}`);
    const key = w.body.apiKey as string;
    const workspaceId = w.body.id as string;
    await first.stop("SIGTERM");
    procs.pop();
    const t0 = performance.now();
    const ids = await seedCampaigns(sql, workspaceId, size, ARMS, "bench");
    await sql`analyze`;
    const seedSeconds = (performance.now() - t0) / 1000;
    console.log(`  ${size}: seeded in ${seedSeconds.toFixed(1)} s`);

    // start-up, `REPEATS` times; the last service stays up
    const startupSeconds: number[] = [];
    let svc!: ServerProcess;
    for (let r = 0; r < REPEATS; r++) {
      const s0 = performance.now();
      svc = await spawnServer({ env, readyTimeoutMs: 600_000 });
      startupSeconds.push((performance.now() - s0) / 1000);
      if (r < REPEATS - 1) await svc.stop("SIGTERM");
    }
    procs.push(svc);
    const pid = svc.child.pid;
    const rssReadyMb = rssMb(pid);
    console.log(
      `  ${size}: start-up ${startupSeconds.map((s) => s.toFixed(2)).join(" / ")} s, RSS at ready ${rssReadyMb.toFixed(0)} MB`,
    );

    // idle: let the background preload finish (CPU settles), then measure
    let prev = cpuSeconds(pid);
    for (let i = 0; i < 120; i++) {
      await sleep(1000);
      const now = cpuSeconds(pid);
      if (now - prev < 0.1) break;
      prev = now;
    }
    const c0 = cpuSeconds(pid);
    await sleep(IDLE_SECONDS * 1000);
    const idleCpuPct = ((cpuSeconds(pid) - c0) / IDLE_SECONDS) * 100;
    const rssIdleMb = rssMb(pid);
    console.log(`  ${size}: idle RSS ${rssIdleMb.toFixed(0)} MB, idle CPU ${idleCpuPct.toFixed(1)} % of a core`);

    // decisions spread uniformly over all campaigns
    let seq = 0;
    const paths = ids.map((id) => `/v1/campaigns/${id}/decisions`);
    const run = (duration: number) =>
      autocannon({
        url: svc.url,
        connections: CONNECTIONS,
        duration,
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        requests: [
          {
            method: "POST",
            body: "{}",
            // a different campaign each time, spread over all of them (a fixed stride through a shuffle)
            setupRequest: (req) => ({ ...req, path: paths[(seq++ * 7919) % paths.length] }),
          },
        ],
        timeout: 10,
      });
    await run(2); // warm-up (JIT, pools)
    const rps: number[] = [];
    const p99: number[] = [];
    let non2xx = 0;
    let rssLoadMb = 0;
    for (let r = 0; r < REPEATS; r++) {
      const sampler = setInterval(() => (rssLoadMb = Math.max(rssLoadMb, rssMb(pid))), 500);
      const res = await run(SECONDS);
      clearInterval(sampler);
      rps.push(res["2xx"] / SECONDS);
      p99.push(res.latency.p99);
      non2xx += res.non2xx + res.errors + res.timeouts;
    }
    console.log(
      `  ${size}: ${rps.map((x) => x.toFixed(0)).join(" / ")} decisions/s, p99 ${p99.join(" / ")} ms, peak RSS ${rssLoadMb.toFixed(0)} MB`,
    );

    // first decision of campaigns the service has never seen (inserted now, as another replica would)
    const cold = await seedCampaigns(sql, workspaceId, COLD, ARMS, "cold");
    const coldMs: number[] = [];
    let unavailable = 0;
    for (const id of cold) {
      for (let attempt = 0; ; attempt++) {
        const s0 = performance.now();
        const r = await http(svc.url, "POST", `/v1/campaigns/${id}/decisions`, key, {});
        const ms = performance.now() - s0;
        // 503: the health probe (its own connection, 800 ms) timed out on this loaded machine and the
        // service answers 503 until the next probe succeeds — not the load; asked again and counted
        if (r.status === 503 && attempt < 20) {
          unavailable++;
          await sleep(300);
          continue;
        }
        if (r.status !== 201) throw new Error(`cold decision: ${r.status} ${r.text}`);
        coldMs.push(ms);
        break;
      }
    }
    const metrics = await fetch(`${svc.url}/metrics`).then((r) => r.text());
    const live = /adbandit_live_campaigns\s+(\d+)/.exec(metrics)?.[1] ?? "?";
    await svc.stop("SIGTERM");
    return {
      size,
      seedSeconds,
      startupSeconds,
      rssReadyMb,
      rssIdleMb,
      idleCpuPct,
      rssLoadMb,
      rps,
      p99,
      non2xx,
      coldMs,
      unavailable,
      live,
    };
  } finally {
    for (const p of procs) await p.stop("SIGKILL").catch(() => null);
    await sql.end({ timeout: 5 }).catch(() => null);
    await db.drop().catch((e) => console.error("could not drop", db.name, e));
  }
}

async function main(): Promise<void> {
  const base = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  console.log(
    `bench:campaigns — sizes ${SIZES.join(", ")} × ${ARMS} arms; ${CONNECTIONS} connections, ${SECONDS} s × ${REPEATS} runs; ` +
      `max live ${MAX_LIVE ?? "service default"}; load average at start ${loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
  );
  const results: SizeResult[] = [];
  for (const size of SIZES) results.push(await measureSize(base, size));
  const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "—");
  const growth = (i: number, pick: (r: SizeResult) => number, d = 1) =>
    i === 0 ? "" : ` (×${f(pick(results[i]!) / pick(results[i - 1]!), d)})`;
  console.log(
    `\nmedians; load average at end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  console.log(
    "| campaigns | start-up to healthy s | RSS ready / idle / under load MB | idle CPU % | decisions/s | p99 ms | first decision, not in memory: median / p99 ms | live at end | non-2xx under load / 503 retried (cold) |",
  );
  console.log("|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  results.forEach((r, i) => {
    const st = (x: SizeResult) => median(x.startupSeconds);
    console.log(
      `| ${r.size.toLocaleString("en-US")} | ${f(st(r), 2)}${growth(i, st)} | ${f(r.rssReadyMb)} / ${f(r.rssIdleMb)}${growth(i, (x) => x.rssIdleMb)} / ${f(r.rssLoadMb)} | ${f(r.idleCpuPct, 1)} | ${f(median(r.rps))}${growth(i, (x) => median(x.rps), 2)} | ${f(median(r.p99))} | ${f(median(r.coldMs), 1)} / ${f(quantile(r.coldMs, 0.99), 1)} | ${r.live} | ${r.non2xx} / ${r.unavailable} |`,
    );
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
