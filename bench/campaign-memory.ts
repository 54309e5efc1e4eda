/**
 * Heap per live campaign (`npm run bench:memory`): builds N live campaigns in-process (no database), the way
 * LiveState builds them from their rows (src/engine/live.ts: `buildLive`, then the hour buckets read back
 * through `timedFromStored` with all-time totals, then every arm's posterior folded at now), keeps them all
 * referenced, collects garbage (`--expose-gc`) and prints the bytes they hold (heap + ArrayBuffers) per campaign
 * and per arm.
 * `--decide` also draws one decision per campaign (the strategy's pmf caches, as a campaign in use has).
 *
 * The share of each part is measured by dropping it from every campaign and collecting again: the hour
 * buckets (`timed`), the strategy state (`state`), the ledger (`stats` + `pending`).
 *
 * Flags: --campaigns 5000  --arms 10  --hours 48  --strategy thompson (a contextual one gets one numeric
 *        feature)  --decide
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { Mulberry32 } from "../strategies/rng.ts";
import { hourOf } from "../src/engine/buckets.ts";
import {
  buildLive,
  refreshWeights,
  syncPosterior,
  timedOptions,
  type CampaignConfig,
  type LiveArm,
  type LiveCampaign,
} from "../src/engine/campaign.ts";
import { libraryRegistry, resolveStrategy } from "../src/engine/registry.ts";
import { fromDatabase, zeroStats } from "../src/engine/stats.ts";
import { timedFromStored, type StoredBucketStats } from "../src/engine/timed.ts";
import type { ArmStats } from "../strategies/types.ts";

const { values: flags } = parseArgs({
  options: {
    campaigns: { type: "string", default: "5000" },
    arms: { type: "string", default: "10" },
    hours: { type: "string", default: "48" },
    strategy: { type: "string", default: "thompson" },
    decide: { type: "boolean", default: false },
  },
});
const N = Number(flags.campaigns);
const ARMS = Number(flags.arms);
const HOURS = Number(flags.hours);
const STRATEGY = flags.strategy;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run node with --expose-gc (npm run bench:memory does)");
/**
 * Bytes held: the JavaScript heap plus ArrayBuffer backing stores (a typed array over 64 bytes keeps its
 * elements outside the heap, where heapUsed does not see them).
 */
function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

// Arm keys as the service has them: interned, shared by every campaign (live.ts `intern`).
const ARM_KEYS = Array.from({ length: ARMS }, (_, i) => `arm-${i}`);
const impl = resolveStrategy(libraryRegistry, STRATEGY);
const features = impl.contextual ? [{ name: "x", type: "numeric" as const }] : [];
const rng = new Mulberry32(1);
const rand = () => rng.next();

function campaign(nowMs: number): LiveCampaign {
  const now = new Date(nowMs);
  const cfg: CampaignConfig = {
    id: randomUUID(),
    workspaceId: "00000000-0000-4000-8000-000000000000",
    name: "bench",
    kind: "creative",
    objective: "conversions",
    strategy: { type: STRATEGY },
    status: "active",
    attributionWindowHours: 24,
    explorationFloor: 0,
    contextFeatures: features,
    trialAt: "decision",
    conversionDelay: null,
    decay: null,
    currency: "USD",
    totalBudget: null,
    dailyBudget: null,
    pacing: null,
    targetCpa: null,
    minRoas: null,
    guardrail: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
  } as CampaignConfig;
  const encoder = impl.contextual ? libraryRegistry.createEncoder(features) : undefined;
  const arms: LiveArm[] = ARM_KEYS.map((key, index) => ({
    key,
    name: null,
    cost: 0,
    totalBudget: null,
    dailyBudget: null,
    metadata: {},
    status: "active",
    index,
    createdAt: now,
  }));
  const live = buildLive(cfg, impl, encoder, arms, new Map());
  const dim = live.dim;
  // HOURS hour buckets per arm, as the store reads them back; all-time totals = their sum + an older part.
  const rows: StoredBucketStats[] = [];
  const allTime = new Map<string, ArmStats>();
  const nowHour = hourOf(nowMs);
  for (const key of ARM_KEYS) {
    const total = zeroStats(dim);
    total.n = 1000;
    total.sum = 50;
    total.sumSq = 50;
    for (let h = nowHour - HOURS + 1; h <= nowHour; h++) {
      const n = 5 + Math.floor(rand() * 20);
      const conv = Math.floor(rand() * n * 0.2);
      const x = dim > 0 ? Array.from({ length: dim }, () => rand()) : null;
      rows.push({
        armKey: key,
        hour: h,
        n,
        sum: 0,
        sumSq: 0,
        xx: x ? x.flatMap((a) => x.map((b) => a * b * n)) : null,
        xr: x ? x.map(() => 0) : null,
        converted: conv,
        rewardSum: conv,
        rewardSumSq: conv,
        rewardXr: x ? x.map((v) => v * conv) : null,
      });
      total.n += n;
      total.sum += conv;
      total.sumSq += conv;
    }
    allTime.set(key, total);
  }
  for (const a of live.arms) fromDatabase(live, a.index, allTime.get(a.key)!);
  live.timed = timedFromStored(ARM_KEYS, dim, timedOptions(live), allTime, rows, []);
  live.foldedAt = nowMs;
  refreshWeights(live, nowMs);
  for (const a of live.arms) syncPosterior(live, a.index);
  if (flags.decide) impl.choose(live.state, dim > 0 ? new Float64Array(dim).fill(0.5) : undefined, rng);
  return live;
}

const nowMs = Date.now();
campaign(nowMs); // warm-up: module-level caches are not a campaign's
const h0 = heap();
const live: LiveCampaign[] = [];
const t0 = performance.now();
for (let i = 0; i < N; i++) live.push(campaign(nowMs));
const buildMs = performance.now() - t0;
const h1 = heap();
const per = (bytes: number) =>
  `${Math.round(bytes / N).toLocaleString("en")} B/campaign, ${Math.round(bytes / N / ARMS).toLocaleString("en")} B/arm`;
console.log(
  `${N.toLocaleString("en")} live campaigns × ${ARMS} arms × ${HOURS} h of buckets, strategy ${STRATEGY}${flags.decide ? ", one decision each" : ""}`,
);
console.log(`  whole campaign       ${per(h1 - h0)}`);

// Each part's share: drop it from every campaign, collect, and see what the heap gave back.
const parts: [string, (c: LiveCampaign) => void][] = [
  ["hour buckets (timed)", (c) => ((c as { timed: unknown }).timed = null)],
  ["strategy state", (c) => ((c as { state: unknown }).state = null)],
  ["ledger (stats+pending)", (c) => ((c as { stats: unknown }).stats = (c as { pending: unknown }).pending = null)],
];
let prev = h1;
for (const [name, drop] of parts) {
  for (const c of live) drop(c);
  const h = heap();
  console.log(`  ${name.padEnd(20)} ${per(prev - h)}`);
  prev = h;
}
console.log(`  the rest             ${per(prev - h0)}`);
console.log(
  `  (heap + ArrayBuffers ${(h1 / 2 ** 20).toFixed(1)} MB with them; built in ${((buildMs * 1000) / N).toFixed(0)} µs per campaign, rows included; node ${process.version})`,
);
