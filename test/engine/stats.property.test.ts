/**
 * Property tests of the one owner of arm statistics (src/engine/stats.ts).
 *
 * - Laws of the arithmetic: merging increments does not depend on their order; subtracting undoes
 *   adding; a bucket fold with unit weights is the sum.
 * - The engine's invariant under any interleaving (fast-check, seeded): groups of concurrent
 *   decisions (some of whose commits fail), events (some of whose transactions fail after doing their
 *   work), refreshes, recomputes, fraud take-backs (events marked invalid, then recompute) and decisions
 *   of a second engine on the same database. After each group has settled, memory equals the database
 *   plus what is still queued (whenever nothing was written behind its back since its last refresh), and
 *   at the end, after a refresh, memory = database = what the stored decisions and valid attributed
 *   events imply, computed here independently of the engine.
 *
 * PGlite in memory; a commit is made to fail by a Db wrapper that rejects `execute` or rolls a
 * transaction back after its work (an injected fault the engine cannot tell from a real one).
 */
import fc from "fast-check";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArmStats } from "../../strategies/types.ts";
import { Engine } from "../../src/engine/engine.ts";
import { bucketEntries } from "../../src/engine/buckets.ts";
import { loadRegistry, type StrategyRegistry } from "../../src/engine/registry.ts";
import { addStats, foldBuckets, mergeIncrements, scaleStats, type ArmIncrement } from "../../src/engine/stats.ts";
import type { FraudGate } from "../../src/engine/types.ts";
import { readArmStats } from "../../src/store/arm-stats.ts";
import { openDatabase, rows, sql, type Database, type Db } from "../../src/store/db.ts";
import { workspaces } from "../../src/store/schema.ts";

const logger = pino({ level: "silent" });

// ---------------------------------------------------------------- laws

const small = fc.integer({ min: -20, max: 20 });
const inc = (dim: number) =>
  fc.record({
    campaignId: fc.constantFrom("c1", "c2"),
    armKey: fc.constantFrom("a", "b", "c"),
    n: fc.integer({ min: 0, max: 3 }),
    sum: small,
    sumSq: small,
    xx: fc.array(small, { minLength: dim * dim, maxLength: dim * dim }),
    xr: fc.array(small, { minLength: dim, maxLength: dim }),
  }) as fc.Arbitrary<ArmIncrement>;

describe("stats arithmetic", () => {
  it("merging does not depend on the order of increments", () => {
    fc.assert(
      fc.property(fc.array(inc(2), { maxLength: 30 }), fc.integer(), (incs, seed) => {
        const shuffled = fc.sample(fc.shuffledSubarray(incs, { minLength: incs.length }), { seed, numRuns: 1 })[0];
        expect(mergeIncrements(shuffled)).toEqual(mergeIncrements(incs));
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it("subtracting undoes adding; a fold with unit weights is the sum; scaling by w then 1/w is the identity", () => {
    fc.assert(
      fc.property(inc(2), inc(2), fc.integer({ min: 1, max: 8 }), (a, b, w) => {
        const t: ArmStats = { n: a.n, sum: a.sum, sumSq: a.sumSq, xx: [...a.xx!], xr: [...a.xr!] };
        addStats(t, b);
        addStats(t, b, -1);
        expect(t).toEqual({ n: a.n, sum: a.sum, sumSq: a.sumSq, xx: a.xx, xr: a.xr });
        const folded = foldBuckets([a, b], 2);
        const sum: ArmStats = { n: 0, sum: 0, sumSq: 0, xx: [0, 0, 0, 0], xr: [0, 0] };
        addStats(sum, a);
        addStats(sum, b);
        expect(folded).toEqual(sum);
        const back = scaleStats(scaleStats(a, w), 1 / w);
        expect(back.n).toBeCloseTo(a.n, 12);
        for (const [i, v] of back.xx!.entries()) expect(v).toBeCloseTo(a.xx![i], 12);
      }),
      { seed: 12, numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------- the engine's invariant

/** A Db whose next `execute` calls reject, or whose next transactions roll back after their work. */
function faultyDb(db: Db) {
  const faults = { execute: 0, transaction: 0 };
  const wrapped = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === "execute")
        return (...args: unknown[]) => {
          if (faults.execute > 0) {
            faults.execute--;
            return Promise.reject(new Error("injected execute failure"));
          }
          return (target.execute as (...a: unknown[]) => unknown).apply(target, args);
        };
      if (prop === "transaction")
        return async (fn: (tx: unknown) => Promise<unknown>, config?: unknown) => {
          const fail = faults.transaction > 0;
          if (fail) faults.transaction--;
          return target.transaction(async (tx) => {
            const r = await fn(tx);
            if (fail) throw new Error("injected commit failure");
            return r;
          }, config as never);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Db;
  return { db: wrapped, faults };
}

type Cmd =
  | { t: "decide"; n: number; fail: boolean }
  | { t: "other"; n: number }
  | { t: "events"; picks: { d: number; v: number; conv: boolean; bad: boolean; dup: boolean }[]; fail: boolean }
  | { t: "refresh" }
  | { t: "recompute"; fail: boolean }
  | { t: "flag"; pick: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    arbitrary: fc.record({ t: fc.constant("decide" as const), n: fc.integer({ min: 1, max: 6 }), fail: fc.boolean() }),
    weight: 4,
  },
  { arbitrary: fc.record({ t: fc.constant("other" as const), n: fc.integer({ min: 1, max: 4 }) }), weight: 1 },
  {
    arbitrary: fc.record({
      t: fc.constant("events" as const),
      picks: fc.array(
        fc.record({
          d: fc.nat(),
          v: fc.integer({ min: 1, max: 9 }),
          conv: fc.boolean(),
          bad: fc.boolean(),
          dup: fc.boolean(),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fail: fc.boolean(),
    }),
    weight: 4,
  },
  { arbitrary: fc.constant({ t: "refresh" as const }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant("recompute" as const), fail: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant("flag" as const), pick: fc.nat() }), weight: 2 },
);

/** Flags events whose source ip is "bad" (the ingest-time fraud gate). */
const gate: FraudGate = { classify: (ev) => (ev.source.ip === "bad" ? "blocklist:ip" : null) };

let database: Database;
let registry: StrategyRegistry;
let ws: string;

beforeAll(async () => {
  database = await openDatabase({ dataDir: "memory://" });
  registry = await loadRegistry();
  const [w] = await database.db.insert(workspaces).values({ name: "prop" }).returning();
  ws = w.id;
});
afterAll(async () => {
  await database?.close();
});

/**
 * What the stored rows imply for a revenue campaign: per arm n, Σr, Σr² and (contextual) Σxxᵀ, Σr·x; and
 * per (arm, hour) bucket its trials part and its rewards part. A trial is every decision, in its hour —
 * or, with `trialAt: "impression"`, a decision some valid attributed event reached, in the hour of its
 * first such event (the earliest occurred among the first received).
 */
async function implied(
  campaignId: string,
  encode?: (ctx: Record<string, unknown> | undefined) => ArrayLike<number>,
  trialAt: "decision" | "impression" = "decision",
) {
  const decs = await rows<{
    id: string;
    arm_key: string;
    context: Record<string, unknown> | null;
    reward: number;
    created_at: Date | string;
  }>(
    database.db,
    sql`select id, arm_key, context, reward, created_at from decisions where campaign_id = ${campaignId}::uuid`,
  );
  const evs = await rows<{
    decision_id: string;
    type: string;
    value: number;
    occurred_at: Date | string;
    received_at: Date | string;
  }>(
    database.db,
    sql`select decision_id, type, value, occurred_at, received_at from events where campaign_id = ${campaignId}::uuid
        and attributed and invalid_reason is null`,
  );
  const reward = new Map<string, number>();
  const first = new Map<string, { rec: number; at: number }>();
  for (const e of evs) {
    if (e.type === "conversion") reward.set(e.decision_id, (reward.get(e.decision_id) ?? 0) + Number(e.value));
    const rec = new Date(e.received_at).getTime();
    const at = new Date(e.occurred_at).getTime();
    const f = first.get(e.decision_id);
    if (!f || rec < f.rec || (rec === f.rec && at < f.at)) first.set(e.decision_id, { rec, at });
  }
  const zero = (): ArmStats => (encode ? { n: 0, sum: 0, sumSq: 0, xx: [0], xr: [0] } : { n: 0, sum: 0, sumSq: 0 });
  const out = new Map<string, ArmStats>();
  const buckets = new Map<string, { trials: ArmStats; rewards: ArmStats }>();
  for (const d of decs) {
    const r = reward.get(d.id) ?? 0;
    expect(Number(d.reward)).toBe(r); // the stored running reward, too
    const created = new Date(d.created_at).getTime();
    const f = first.get(d.id);
    if (trialAt === "impression" && !f) continue;
    const hour = Math.floor((trialAt === "impression" ? Math.max(created, f!.at) : created) / 3_600_000);
    let s = out.get(d.arm_key);
    if (!s) out.set(d.arm_key, (s = zero()));
    const k = `${d.arm_key}/${hour}`;
    let b = buckets.get(k);
    if (!b) buckets.set(k, (b = { trials: zero(), rewards: zero() }));
    s.n += 1;
    s.sum += r;
    s.sumSq += r * r;
    b.trials.n += 1;
    if (r !== 0) {
      b.rewards.n += 1; // converted (revenue: every conversion here is worth 1–9)
      b.rewards.sum += r;
      b.rewards.sumSq += r * r;
    }
    if (encode) {
      const x = encode(d.context ?? undefined);
      s.xx![0] += x[0] * x[0];
      s.xr![0] += r * x[0];
      b.trials.xx![0] += x[0] * x[0];
      b.rewards.xr![0] += r * x[0];
    }
  }
  return { totals: out, buckets };
}

/** The stored arm_stat_buckets rows of a campaign, keyed "arm/hour", as the two parts. */
async function storedBuckets(campaignId: string, dim: number) {
  const got = await rows<{
    arm_key: string;
    hour: number;
    n: number;
    sum: number;
    sum_sq: number;
    xx: number[] | null;
    xr: number[] | null;
    converted: number;
    reward_sum: number;
    reward_sum_sq: number;
    reward_xr: number[] | null;
  }>(
    database.db,
    sql`select arm_key, floor(extract(epoch from bucket_start) / 3600)::float8 as hour, n, sum, sum_sq, xx, xr,
          converted, reward_sum, reward_sum_sq, reward_xr from arm_stat_buckets where campaign_id = ${campaignId}::uuid`,
  );
  const vec = (a: number[] | null) => (dim ? (a ?? [0]).map(Number) : undefined);
  return new Map(
    got.map((r) => [
      `${r.arm_key}/${Number(r.hour)}`,
      {
        trials: { n: Number(r.n), sum: Number(r.sum), sumSq: Number(r.sum_sq), xx: vec(r.xx), xr: vec(r.xr) },
        rewards: {
          n: Number(r.converted),
          sum: Number(r.reward_sum),
          sumSq: Number(r.reward_sum_sq),
          xr: vec(r.reward_xr),
        },
      },
    ]),
  );
}

/** Buckets equal, ignoring rows that are all zero (a trial taken back leaves its row at 0). */
function expectBuckets(
  got: Map<string, { trials: ArmStats; rewards: ArmStats }>,
  want: Map<string, { trials: ArmStats; rewards: ArmStats }>,
  what: string,
) {
  const isZero = (b: { trials: ArmStats; rewards: ArmStats }) =>
    [b.trials, b.rewards].every(
      (s) => Math.abs(s.n) < 1e-9 && Math.abs(s.sum) < 1e-9 && (s.xx ?? []).every((v) => Math.abs(v) < 1e-9),
    );
  for (const k of new Set([...got.keys(), ...want.keys()])) {
    const g = got.get(k);
    const w = want.get(k);
    if (!w && g && isZero(g)) continue;
    expectStats(g?.trials, w?.trials, `${what} ${k} trials`);
    expectStats(g?.rewards, w?.rewards, `${what} ${k} rewards`);
  }
}

function expectStats(got: ArmStats | undefined, want: ArmStats | undefined, what: string) {
  const g = got ?? { n: 0, sum: 0, sumSq: 0 };
  const w = want ?? { n: 0, sum: 0, sumSq: 0 };
  expect(g.n, `${what}: n`).toBe(w.n);
  expect(g.sum, `${what}: sum`).toBeCloseTo(w.sum, 9);
  expect(g.sumSq, `${what}: sumSq`).toBeCloseTo(w.sumSq, 9);
  for (const [i, v] of (w.xx ?? []).entries()) expect(g.xx?.[i] ?? 0, `${what}: xx`).toBeCloseTo(v, 9);
  for (const [i, v] of (w.xr ?? []).entries()) expect(g.xr?.[i] ?? 0, `${what}: xr`).toBeCloseTo(v, 9);
}

for (const { contextual, trialAt } of [
  { contextual: false, trialAt: "decision" as const },
  { contextual: true, trialAt: "decision" as const },
  { contextual: false, trialAt: "impression" as const },
]) {
  describe(`memory = database + queued = rows (${contextual ? "lin_ts" : "gaussian_thompson"}, trialAt ${trialAt})`, () => {
    it("holds under any interleaving of decisions, events, failed commits, refreshes, recomputes and take-backs", async () => {
      let runId = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(cmd, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
          async (groups) => {
            const { db, faults } = faultyDb(database.db);
            const main = new Engine({
              database: { ...database, db },
              registry,
              logger,
              seed: 3,
              refreshIntervalMs: 0,
              fraudGate: gate,
            });
            const other = new Engine({ database, registry, logger, seed: 4, refreshIntervalMs: 0 });
            await main.start();
            const c = await main.createCampaign(ws, {
              name: `p${runId++}`,
              kind: "creative",
              objective: "revenue",
              strategy: { type: contextual ? "lin_ts" : "gaussian_thompson" },
              arms: [{ key: "a" }, { key: "b" }, { key: "c" }],
              trialAt,
              ...(contextual ? { contextFeatures: [{ name: "age", type: "numeric" as const }] } : {}),
            });
            await other.start();
            const decided: string[] = [];
            const sent: { id: string; decisionId: string; bad: boolean }[] = [];
            let eventSeq = 0;
            let external = false;
            const run = async (k: Cmd): Promise<void> => {
              switch (k.t) {
                case "decide": {
                  if (k.fail) faults.execute++;
                  const out = await Promise.allSettled(
                    Array.from({ length: k.n }, (_, i) => main.decide(ws, c.id, { context: { age: 20 + i } })),
                  );
                  for (const o of out) if (o.status === "fulfilled") decided.push(o.value.decisionId);
                  return;
                }
                case "other": {
                  const out = await Promise.all(
                    Array.from({ length: k.n }, (_, i) => other.decide(ws, c.id, { context: { age: 30 + i } })),
                  );
                  for (const o of out) decided.push(o.decisionId);
                  external = true;
                  return;
                }
                case "events": {
                  if (decided.length === 0) return;
                  if (k.fail) faults.transaction++;
                  const evs = k.picks.map((p) => {
                    const again = p.dup && sent.length ? sent[p.d % sent.length] : undefined;
                    const decisionId = again?.decisionId ?? decided[p.d % decided.length];
                    return {
                      id: again?.id ?? `e${eventSeq++}`,
                      decisionId,
                      type: p.conv ? ("conversion" as const) : ("click" as const),
                      value: again ? undefined : p.v,
                      source: { ip: p.bad ? "bad" : "ok" },
                    };
                  });
                  try {
                    await main.ingest(ws, evs);
                    for (const e of evs) sent.push({ id: e.id, decisionId: e.decisionId, bad: e.source.ip === "bad" });
                  } catch {
                    // the injected failure: nothing of the batch was stored
                  }
                  return;
                }
                case "refresh":
                  await main.refresh();
                  external = false;
                  return;
                case "recompute":
                  if (k.fail) faults.transaction++;
                  await main.recompute(c.id).then(
                    () => {
                      external = false; // memory was read back from the database
                    },
                    () => {},
                  );
                  return;
                case "flag": {
                  // a take-back of an event the gate let through (one it flagged teaches nothing already)
                  const good = sent.filter((x) => !x.bad);
                  if (good.length === 0) return;
                  const e = good[k.pick % good.length];
                  await database.db.execute(
                    sql`update events set invalid_reason = 'test' where workspace_id = ${ws}::uuid and event_id = ${e.id}`,
                  );
                  // the take-back runs on the other engine (no injected fault may hit it: its rebuild must land)
                  await other.recompute(c.id);
                  external = true;
                  return;
                }
              }
            };
            const live = () => main.campaigns.get(c.id)!;
            const stored = async () =>
              new Map(
                (await readArmStats(database.db, [c.id])).map((r) => [r.armKey, foldBuckets([r], live().dim)] as const),
              );
            try {
              for (const group of groups) {
                await Promise.all(group.map(run));
                await main.flush();
                faults.execute = 0;
                faults.transaction = 0;
                const l = live();
                for (const a of l.arms) expect(l.pending[a.index]?.n ?? 0, "nothing queued after a flush").toBe(0);
                if (!external) {
                  const s = await stored();
                  for (const a of l.arms)
                    expectStats(l.stats[a.index], s.get(a.key), `memory = database, arm ${a.key}`);
                }
              }
              await main.refresh();
              const l = live();
              const s = await stored();
              const enc = l.encoder;
              const want = await implied(c.id, enc ? (ctx) => enc.encode(ctx) : undefined, trialAt);
              for (const a of l.arms) {
                expectStats(l.stats[a.index], s.get(a.key), `after refresh: memory = database, arm ${a.key}`);
                expectStats(s.get(a.key), want.totals.get(a.key), `database = rows, arm ${a.key}`);
              }
              // the hour buckets too: stored rows = what the rows imply, and memory's buckets = stored rows
              const sb = await storedBuckets(c.id, l.dim);
              expectBuckets(sb, want.buckets, "stored buckets = rows, bucket");
              const mem = new Map<string, { trials: ArmStats; rewards: ArmStats }>();
              for (const a of l.arms)
                for (const [hour, b] of bucketEntries(l.timed.arms[a.index]!, l.dim)) mem.set(`${a.key}/${hour}`, b);
              expectBuckets(mem, sb, "memory buckets = stored, bucket");
            } finally {
              await other.close();
              await main.close();
            }
          },
        ),
        { seed: contextual ? 22 : trialAt === "impression" ? 23 : 21, numRuns: 20, endOnFailure: true },
      );
    }, 300_000);
  });
}
