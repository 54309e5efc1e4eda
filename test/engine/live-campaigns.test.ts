/**
 * Many campaigns (issue #16): campaigns leave memory and come back with exactly the same state, two
 * replicas with a small budget stay in agreement, a campaign changed elsewhere while evicted comes back
 * with the change, a refresh with nothing changed reads no statistics row, a campaign's first use does
 * not block the others, start-up reads in a constant number of statements, and eviction never takes a
 * campaign with an unsettled decision. On PGlite, and on PostgreSQL with DATABASE_URL.
 */
import { describe, expect, it, vi } from "vitest";
import { Xoshiro128 } from "../../strategies/rng.ts";
import type { LiveCampaign } from "../../src/engine/campaign.ts";
import type { Engine, CampaignInput, EventInput } from "../../src/engine/engine.ts";
import { readArmStats } from "../../src/store/arm-stats.ts";
import { openDatabase, type Database, type Db } from "../../src/store/db.ts";
import { workspaces } from "../../src/store/schema.ts";
import { testDatabase } from "../helpers/db.ts";
import { engineSuite } from "../helpers/engines.ts";

const s = engineSuite({ name: "many" });

function engine(opts: { seed?: number; maxLive?: number; preload?: number; db?: Database } = {}): Engine {
  return s.engine({
    database: opts.db ?? s.database,
    seed: opts.seed ?? 1,
    maxLiveCampaigns: opts.maxLive,
    preloadCampaigns: opts.preload,
  });
}

const creative = (name: string, over: Partial<CampaignInput> = {}): CampaignInput =>
  ({
    name,
    kind: "creative",
    objective: "conversions",
    strategy: { type: "thompson" },
    arms: ["a", "b", "c", "d"].map((key) => ({ key })),
    ...over,
  }) as CampaignInput;

let evSeq = 0;
/** `n` decisions, and a conversion (value 1..5) for every `every`-th. */
async function traffic(e: Engine, id: string, n: number, every = 3, workspace = s.ws): Promise<void> {
  const ds = await Promise.all(Array.from({ length: n }, (_, i) => e.decide(workspace, id, { unitId: `u${i}` })));
  const evs: EventInput[] = ds
    .filter((_, i) => i % every === 0)
    .map((d, i) => ({ id: `ev-${evSeq++}`, decisionId: d.decisionId, type: "conversion", value: 1 + (i % 5) }));
  if (evs.length) await e.ingest(workspace, evs);
}

/** Everything the strategy decides from: its state, every arm's fold and totals, and its propensities. */
function snapshot(c: LiveCampaign) {
  const x = c.encoder ? c.encoder.encode({ device: "mobile", age: 31 }) : undefined;
  const { version: _revision, ...state } = JSON.parse(JSON.stringify(c.impl.toJSON(c.state)));
  return {
    state, // without its revision counter (how many times it was handed statistics, not what it holds)
    folds: c.arms.map((a) => c.timed.fold(a.index)),
    stats: c.stats.map((s) => ({ ...s })),
    model: { ...c.timed.model },
    probabilities: Array.from(c.impl.probabilities(c.state, x, new Xoshiro128(3))),
    choices: Array.from({ length: 20 }, (_, s) => c.impl.choose(c.state, x, new Xoshiro128(100 + s))),
  };
}

async function dbTotals(id: string) {
  const r = await readArmStats(s.database.db, [id]);
  return Object.fromEntries(r.map((x) => [x.armKey, { n: x.n, sum: x.sum }]));
}

function memTotals(c: LiveCampaign) {
  return Object.fromEntries(c.arms.map((a) => [a.key, { n: c.stats[a.index]!.n, sum: c.stats[a.index]!.sum }]));
}

describe("eviction and reload", () => {
  for (const [label, over] of [
    ["thompson, conversions", {}],
    [
      "gaussian_thompson, revenue, half-life decay",
      { objective: "revenue", strategy: { type: "gaussian_thompson" }, decay: { halfLifeHours: 6 } },
    ],
    [
      "lin_ts, contextual",
      {
        strategy: { type: "lin_ts" },
        contextFeatures: [
          { name: "device", type: "categorical", values: ["mobile", "desktop"] },
          { name: "age", type: "numeric" },
        ],
      },
    ],
  ] as const) {
    it(`give exactly the same posterior and propensities (${label})`, async () => {
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
      const e = engine({ seed: 4 });
      await e.start();
      const c = await e.createCampaign(s.ws, creative(`evict ${label}`, over as Partial<CampaignInput>));
      await traffic(e, c.id, 60);
      await e.flush();
      await e.refresh(); // memory rebuilt from the database's rows, as a reload will
      const before = snapshot(await e.campaign(s.ws, c.id));
      expect(before.stats.reduce((s, x) => s + x.n, 0)).toBe(60);

      expect(await e.liveState.evict([c.id])).toBe(1);
      expect(e.campaigns.has(c.id)).toBe(false);
      const back = await e.campaign(s.ws, c.id);
      expect(back).not.toBe(before);
      expect(snapshot(back)).toEqual(before);
      const sum = snapshot(back).probabilities.reduce((s, p) => s + p, 0);
      expect(sum).toBeCloseTo(1, 12);
    });
  }

  it("never takes a campaign whose decision is not yet committed", async () => {
    const e = engine();
    await e.start();
    const c = await e.createCampaign(s.ws, creative("unsettled"));
    await e.decide(s.ws, c.id, {}); // the workspace's privacy key is read on its first decision, then cached
    const pending = e.decide(s.ws, c.id, {}); // counted in memory at once, committed later
    expect(e.campaigns.get(c.id)!.unsettled).toBe(1);
    expect(await e.liveState.evict([c.id])).toBe(0);
    await pending;
    await e.flush();
    expect(e.campaigns.get(c.id)!.unsettled).toBe(0);
    expect(memTotals(e.campaigns.get(c.id)!)).toEqual(await dbTotals(c.id));
    expect(await e.liveState.evict([c.id])).toBe(1);
  });

  it("keeps at most the budget in memory, the least recently used leaving first", async () => {
    const e = engine({ maxLive: 4 });
    await e.start();
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await e.createCampaign(s.ws, creative(`budget ${i}`))).id);
    for (const id of ids) await traffic(e, id, 3);
    await e.flush();
    await e.decide(s.ws, ids[1]!, {}); // the oldest but one is used again
    await e.flush();
    await e.refresh();
    expect(e.campaigns.size).toBeLessThanOrEqual(4);
    expect(e.campaigns.has(ids[1]!)).toBe(true);
    expect(e.campaigns.has(ids[0]!)).toBe(false);
    // an evicted one comes back with its counts
    const back = await e.campaign(s.ws, ids[0]!);
    expect(memTotals(back)).toEqual(await dbTotals(ids[0]!));
  });
});

describe("idle campaigns", () => {
  it("leave memory once unused for campaignIdleMs, and the one in use stays", async () => {
    const e = s.engine({ seed: 51, campaignIdleMs: 150 });
    await e.start();
    const used = await e.createCampaign(s.ws, creative("idle: used"));
    const idle = await e.createCampaign(s.ws, creative("idle: idle"));
    await e.refresh();
    await traffic(e, used.id, 3);
    await e.flush();
    await new Promise((r) => setTimeout(r, 250));
    await e.refresh();
    expect(e.campaigns.has(idle.id)).toBe(false);
    expect(e.campaigns.has(used.id)).toBe(true);
    await new Promise((r) => setTimeout(r, 250));
    await e.refresh();
    expect(e.campaigns.has(used.id)).toBe(false);
    expect(memTotals(await e.campaign(s.ws, used.id))).toEqual(await dbTotals(used.id));
  });
});

describe("the delay model between refreshes", () => {
  it("new delays within a second of its fit wait for the refresh or a view of the campaign, which refit it", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    const e = engine({ seed: 5 });
    await e.start();
    const c = await e.createCampaign(s.ws, creative("refit cadence"));
    await traffic(e, c.id, 30); // 10 conversions, the clock stopped: within a second of the campaign's fit
    const live = e.campaigns.get(c.id)!;
    expect(live.timed.refitPending).toBe(true);
    expect(live.timed.model.observations).toBe(0);
    await e.refresh();
    expect(live.timed.refitPending).toBe(false);
    expect(live.timed.model).toMatchObject({ source: "learned", observations: 10 });
    await traffic(e, c.id, 9);
    expect(live.timed.model.observations).toBe(10);
    expect((await e.campaign(s.ws, c.id)).timed.model.observations).toBe(13);
  });
});

describe("replicas with eviction on", () => {
  it("two replicas with a budget of 3 agree on every one of 8 campaigns", async () => {
    const a = engine({ seed: 11, maxLive: 3 });
    const b = engine({ seed: 12, maxLive: 3 });
    await Promise.all([a.start(), b.start()]);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await a.createCampaign(s.ws, creative(`pair ${i}`))).id);
    for (let round = 0; round < 3; round++) {
      for (const [i, id] of ids.entries()) await traffic(i % 2 === round % 2 ? a : b, id, 7, 2);
      await Promise.all([a.flush(), b.flush()]);
      await Promise.all([a.refresh(), b.refresh()]);
    }
    expect(a.liveState.evictions + b.liveState.evictions).toBeGreaterThan(0);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    for (const id of ids) {
      const [ca, cb] = [await a.campaign(s.ws, id), await b.campaign(s.ws, id)];
      await Promise.all([a.refresh(), b.refresh()]);
      const db = await dbTotals(id);
      expect(memTotals(ca)).toEqual(db);
      expect(memTotals(cb)).toEqual(db);
      expect(Object.values(db).reduce((s, x) => s + x.n, 0)).toBe(21);
      const [sa, sb] = [snapshot(a.campaigns.get(id)!), snapshot(b.campaigns.get(id)!)];
      expect(sa.folds).toEqual(sb.folds);
      expect(sa.probabilities).toEqual(sb.probabilities);
    }
  });

  it("a campaign changed on another replica while evicted here comes back with the change", async () => {
    const a = engine({ seed: 21 });
    const b = engine({ seed: 22 });
    await Promise.all([a.start(), b.start()]);
    const c = await a.createCampaign(s.ws, creative("changed elsewhere"));
    await traffic(a, c.id, 10);
    await a.flush();
    await a.refresh();
    expect(await a.liveState.evict([c.id])).toBe(1);

    await traffic(b, c.id, 25, 2);
    await b.patchArm(s.ws, c.id, "b", { status: "paused" });
    await b.addArm(s.ws, c.id, { key: "e" });
    await b.flush();
    await a.refresh(); // not in memory here: nothing to re-read
    expect(a.campaigns.has(c.id)).toBe(false);

    const back = await a.campaign(s.ws, c.id);
    expect(memTotals(back)).toEqual(await dbTotals(c.id));
    expect(Object.values(memTotals(back)).reduce((s, x) => s + x.n, 0)).toBe(35);
    expect(back.armByKey.get("b")!.status).toBe("paused");
    expect(back.armByKey.has("e")).toBe(true);
    const served = new Set(
      (await Promise.all(Array.from({ length: 40 }, () => a.decide(s.ws, c.id, {})))).map((d) => d.arm?.key),
    );
    expect(served.has("b")).toBe(false);
  });
});

describe("refresh costs what changed", () => {
  it("reads no statistics row when nothing changed, and only the changed campaign's otherwise", async () => {
    const a = engine({ seed: 31 });
    const b = engine({ seed: 32 });
    await Promise.all([a.start(), b.start()]);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await a.createCampaign(s.ws, creative(`feed ${i}`))).id);
    for (const id of ids) await traffic(a, id, 5);
    await a.flush();
    for (const id of ids) await b.campaign(s.ws, id);
    await a.refresh(); // reads back its own writes once
    await a.refresh();
    expect(a.liveState.lastRefresh).toEqual({ changed: 0, reread: 0, rowsRead: 0, evicted: 0 });
    await a.refresh();
    expect(a.liveState.lastRefresh.rowsRead).toBe(0);

    await traffic(b, ids[2]!, 9);
    await b.flush();
    await a.refresh();
    expect(a.liveState.lastRefresh.changed).toBe(1);
    expect(a.liveState.lastRefresh.reread).toBe(1);
    // that campaign's 4 arm_stats rows and its buckets (4 arms × at most 2 hours), nothing of the other five
    expect(a.liveState.lastRefresh.rowsRead).toBeGreaterThanOrEqual(4);
    expect(a.liveState.lastRefresh.rowsRead).toBeLessThanOrEqual(4 + 8 + 2);
    expect(memTotals(a.campaigns.get(ids[2]!)!)).toEqual(await dbTotals(ids[2]!));
    await a.refresh();
    expect(a.liveState.lastRefresh.rowsRead).toBe(0);
  });
});

describe("start-up and first use", () => {
  it("starts in a constant number of statements and preloads the most recently written", async () => {
    const own = await testDatabase();
    const db = await openDatabase(own.options);
    try {
      const [w] = await db.db.insert(workspaces).values({ name: "startup" }).returning();
      const seed = engine({ db });
      await seed.start();
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push((await seed.createCampaign(w.id, creative(`start ${i}`))).id);
      for (const id of ids.slice(20)) await traffic(seed, id, 2, 3, w.id);
      await seed.flush();

      // the statements start-up sends do not grow with the campaigns it loads (3 per campaign before)
      const startWith = async (maxLive: number) => {
        const counted = countingDb(db);
        const e = s.engine({ database: counted.database, seed: undefined, maxLiveCampaigns: maxLive });
        await e.start();
        return { e, counted, statements: counted.statements() };
      };
      const small = await startWith(10);
      const large = await startWith(30);
      expect(large.e.campaigns.size).toBe(30);
      expect(large.statements).toBe(small.statements);
      expect(small.statements).toBeLessThanOrEqual(15);
      const { e, counted } = small;
      expect(e.campaigns.size).toBe(10);
      for (const id of ids.slice(20)) expect(e.campaigns.has(id)).toBe(true);

      const before = counted.statements();
      const cold = await e.campaign(w.id, ids[0]!);
      expect(cold.id).toBe(ids[0]);
      expect(counted.statements() - before).toBeLessThanOrEqual(10);
      for (const x of [e, large.e, seed]) {
        await x.close();
        s.engines.splice(s.engines.indexOf(x), 1);
      }
    } finally {
      await db.close();
      await own.drop();
    }
  });

  it("a first use does not block decisions and events of campaigns in memory", async () => {
    const e = engine({ seed: 41 });
    await e.start();
    const hot = await e.createCampaign(s.ws, creative("hot"));
    const cold = await e.createCampaign(s.ws, creative("cold"));
    await e.flush();
    await e.liveState.evict([cold.id]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = 0;
    e.liveState.addLoader({
      async load(_db, built) {
        if (built.some((b) => b.campaign.id === cold.id)) {
          held++;
          await gate;
        }
      },
    });
    const coldDecision = e.decide(s.ws, cold.id, {});
    await vi.waitFor(() => expect(held).toBe(1));
    // while the cold campaign's load is held, the hot one decides, commits and learns
    const d = await e.decide(s.ws, hot.id, {});
    const r = await e.ingest(s.ws, [{ id: `ev-${evSeq++}`, decisionId: d.decisionId, type: "conversion" }]);
    expect(r.accepted).toBe(1);
    expect(e.campaigns.has(cold.id)).toBe(false);
    release();
    const cd = await coldDecision;
    expect(cd.campaignId).toBe(cold.id);
    expect(e.campaigns.get(cold.id)!.stats.reduce((s, x) => s + x.n, 0)).toBe(1);
  });
});

/** A Database whose selects and executes are counted (statements sent). */
function countingDb(d: Database): { database: Database; statements: () => number } {
  let n = 0;
  const db = new Proxy(d.db, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "select" || prop === "execute")
        return (...args: unknown[]) => {
          n++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Db;
  return { database: { ...d, db }, statements: () => n };
}
