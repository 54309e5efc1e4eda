/**
 * The compact buckets (one Float64Array per arm) against the Map of ArmStats objects they replaced
 * (buckets-reference.ts): the same increments, in any hour order, with either sign, folded at any `now`
 * under every counting mode and decay, compacted on the way or not, give the same totals bit for bit —
 * non-contextual and contextual alike. So the posteriors, and the propensities computed from them, are the
 * ones they were.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addBucketsTo,
  addReward,
  addTrial,
  addTrialsOf,
  bucketEntries,
  bucketHours,
  bucketWeigher,
  compactArm,
  emptyArmBuckets,
  foldArm,
  reserveBuckets,
  type FoldOptions,
} from "../../src/engine/buckets.ts";
import type { DecaySpec } from "../../src/engine/decay.ts";
import { priorDelay } from "../../src/engine/delay.ts";
import { addStats, zeroStats } from "../../src/engine/stats.ts";
import type { ArmStats } from "../../strategies/types.ts";
import {
  emptyMapArmBuckets,
  refAddReward,
  refAddTrial,
  refBucketWeigher,
  refCompactArm,
  refFoldArm,
  type MapArmBuckets,
} from "./buckets-reference.ts";

const H0 = 490_000;
const delay = priorDelay(24, { medianHours: 6, p95Hours: 20 });

interface Inc {
  hour: number;
  trial: boolean;
  sign: 1 | -1;
  stats: ArmStats;
}

const real = fc.double({ min: -50, max: 50, noNaN: true, noDefaultInfinity: true });
const incArb = (dim: number) =>
  fc
    .record({
      hour: fc.integer({ min: 0, max: 80 }),
      trial: fc.boolean(),
      sign: fc.constantFrom<1 | -1>(1, 1, 1, -1),
      n: fc.constantFrom(0, 1, 1, 1, 2, 0.5),
      sum: real,
      x: fc.array(real, { minLength: dim, maxLength: dim }),
    })
    .map(({ hour, trial, sign, n, sum, x }): Inc => {
      const stats: ArmStats = { n, sum, sumSq: sum * sum };
      if (dim > 0) {
        // A trial carries x xᵀ and r·x; a reward only Δr·x (rewardIncrement).
        if (trial) stats.xx = x.flatMap((a) => x.map((b) => a * b));
        stats.xr = x.map((v) => sum * v);
      }
      return { hour: H0 + hour, trial, sign, stats };
    });

const decays: (DecaySpec | undefined)[] = [undefined, { halfLifeHours: 7 }, { windowHours: 30 }];
const countings: FoldOptions["counting"][] = ["delay-aware", "at-decision", "matured-only"];

function both(dim: number, incs: Inc[]) {
  const slab = emptyArmBuckets(dim);
  const map: MapArmBuckets = emptyMapArmBuckets(dim);
  for (const i of incs) {
    (i.trial ? addTrial : addReward)(slab, i.hour, i.stats, dim, i.sign);
    (i.trial ? refAddTrial : refAddReward)(map, i.hour, i.stats, dim, i.sign);
  }
  return { slab, map };
}

describe("compact buckets = the Map of ArmStats they replaced, bit for bit", () => {
  for (const dim of [0, 2]) {
    it(`dim ${dim}: fold at any now, every counting and decay, with and without compaction`, () => {
      fc.assert(
        fc.property(
          fc.array(incArb(dim), { minLength: 0, maxLength: 120 }),
          fc.array(fc.double({ min: 0, max: 130, noNaN: true }), { minLength: 1, maxLength: 6 }),
          fc.constantFrom(...decays),
          fc.constantFrom(...countings),
          (incs, nows, decay, counting) => {
            const o: FoldOptions = { counting, delay, decay };
            const { slab, map } = both(dim, incs);
            expect(bucketHours(slab, dim)).toEqual([...map.buckets.keys()].sort((a, b) => a - b));
            for (const [hour, b] of bucketEntries(slab, dim)) expect(b).toEqual(map.buckets.get(hour));
            const reused = bucketWeigher(0, o); // as TimedStats keeps one, reset at every refresh
            for (const t of [...nows].sort((a, b) => a - b)) {
              const now = H0 + t;
              compactArm(slab, now, o, dim);
              refCompactArm(map, now, o, dim);
              expect(slab.base).toEqual(map.base);
              expect(slab.baseHour).toBe(map.baseHour);
              const want = refFoldArm(map, refBucketWeigher(now, o), dim);
              expect(foldArm(slab, bucketWeigher(now, o), dim)).toEqual(want);
              reused.reset(now, o);
              expect(foldArm(slab, reused, dim)).toEqual(want);
            }
          },
        ),
        { numRuns: 300, seed: 16 + dim },
      );
    });
  }

  it("the buckets' share of the totals (timedFromStored's base) and carried trials, as the Map loops did", () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 3), fc.array(incArb(3), { maxLength: 80 }), (dim, raw) => {
        const incs = raw.map((i) =>
          dim === 0 ? { ...i, stats: { n: i.stats.n, sum: i.stats.sum, sumSq: i.stats.sumSq } } : i,
        );
        const { slab, map } = both(dim, incs);
        const got = zeroStats(dim);
        addBucketsTo(got, slab, dim, -1);
        const want = zeroStats(dim);
        for (const h of [...map.buckets.keys()].sort((a, b) => a - b)) {
          const b = map.buckets.get(h)!;
          addStats(want, b.trials, -1);
          const n = want.n;
          addStats(want, b.rewards, -1);
          want.n = n;
        }
        expect(got).toEqual(want);
        const to = emptyArmBuckets(dim);
        addTrialsOf(to, slab, dim);
        const toMap = emptyMapArmBuckets(dim);
        for (const [h, b] of map.buckets) refAddTrial(toMap, h, b.trials, dim);
        for (const [hour, b] of bucketEntries(to, dim)) expect(b.trials).toEqual(toMap.buckets.get(hour)!.trials);
        expect(to.count).toBe(toMap.buckets.size);
      }),
      { numRuns: 200, seed: 3 },
    );
  });

  it("an arm without buckets shares one empty slab; reserved arms share one buffer until they outgrow it", () => {
    const a = emptyArmBuckets(0);
    const b = emptyArmBuckets(0);
    expect(a.slab).toBe(b.slab);
    for (let h = 0; h < 3; h++) addTrial(a, H0 + h, { n: 1, sum: 0, sumSq: 0 }, 0);
    expect(b.count).toBe(0); // the shared empty slab was not written
    const c = emptyArmBuckets(0);
    reserveBuckets([a, b, c], [1, 0, 2], 0);
    expect(a.slab.length).toBe((3 + 1 + 1) * 7);
    expect(b.slab.length).toBe(0);
    const shared = a.slab.buffer;
    expect(c.slab.buffer).toBe(shared);
    expect(bucketHours(a, 0)).toEqual([H0, H0 + 1, H0 + 2]); // kept
    for (let h = 0; h < 4; h++) addTrial(c, H0 + h, { n: 1, sum: 0, sumSq: 0 }, 0);
    expect(c.slab.buffer).not.toBe(shared); // outgrew its view: a slab of its own
    addTrial(a, H0 - 5, { n: 1, sum: 1, sumSq: 1 }, 0); // a late hour goes in order, within the view
    expect(bucketHours(a, 0)).toEqual([H0 - 5, H0, H0 + 1, H0 + 2]);
    expect(a.slab.buffer).toBe(shared);
  });
});
