/**
 * The pacing controller survives an eviction and a restart (pacer_states, written with the decision
 * batch): a paced campaign's throttle after it is loaded again — evicted and read back, or read by a new
 * engine on the same database — is exactly the throttle it had, not a restart at full rate. On PGlite,
 * and on PostgreSQL with DATABASE_URL.
 */
import { describe, expect, it, vi } from "vitest";
import { initialPacer, throttleOf } from "../../src/budget/pacing.ts";
import type { Engine, CampaignInput } from "../../src/engine/engine.ts";
import { readPacers, upsertPacers } from "../../src/store/spend.ts";
import { engineSuite } from "../helpers/engines.ts";

const s = engineSuite({ name: "pacer restore" });

async function engine(seed = 1): Promise<Engine> {
  const e = s.engine({ seed });
  await e.start();
  return e;
}

const MINUTE = 60_000;
const pacerOf = (e: Engine, id: string) => e.campaigns.get(id)?.budget?.pacer ?? null;
const throttle = (e: Engine, id: string) => {
  const l = e.campaigns.get(id)!.budget!;
  return l.pacer ? throttleOf(l.pacer, l.config.pacing!) : 1;
};

describe("the pacing controller after a reload", () => {
  it("resumes at the throttle it had, after an eviction and in a new engine on the same database", async () => {
    let now = Date.parse("2026-06-01T12:00:00Z");
    vi.useFakeTimers({ toFake: ["Date"], now });
    const e = await engine();
    // Even plan of 1440 a day: about 1 per minute (2 per minute for the rest of the day at noon); the
    // traffic spends 8 per minute at full rate, so the controller must throttle to about 1/4.
    const c = await e.createCampaign(s.ws, {
      name: "paced",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [
        { key: "a", cost: 1 },
        { key: "b", cost: 1 },
      ],
      dailyBudget: 1440,
      pacing: { mode: "even", intervalSeconds: 60 },
    } as CampaignInput);
    for (let m = 0; m < 40; m++) {
      now += MINUTE;
      vi.setSystemTime(now);
      for (let i = 0; i < 8; i++) await e.decide(s.ws, c.id, { unitId: `u${m}-${i}` });
    }
    await e.flush();
    const before = pacerOf(e, c.id)!;
    const theta = throttle(e, c.id);
    expect(theta).toBeLessThan(0.6); // throttled: a restart at full rate would be θ = 1

    expect(await e.liveState.evict([c.id])).toBe(1);
    await e.campaign(s.ws, c.id);
    expect(pacerOf(e, c.id)).toEqual(before);
    expect(throttle(e, c.id)).toBe(theta);

    const e2 = await engine(2);
    await e2.campaign(s.ws, c.id);
    expect(pacerOf(e2, c.id)).toEqual(before);
    expect(throttle(e2, c.id)).toBe(theta);

    // And it goes on from there: the next step starts from the restored θ (one step moves it by at most
    // a factor e^{±η}, η = 0.3), not from 1.
    now += MINUTE;
    vi.setSystemTime(now);
    await e2.decide(s.ws, c.id, { unitId: "next" });
    const next = throttle(e2, c.id);
    expect(next).toBeGreaterThanOrEqual(theta * Math.exp(-0.3) - 1e-12);
    expect(next).toBeLessThanOrEqual(theta * Math.exp(0.3) + 1e-12);
  });
});

describe("pacer_states", () => {
  it("a state older than the stored one (a late batch of another replica) does not replace it", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.parse("2026-06-01T12:00:00Z") });
    const e = await engine();
    const c = await e.createCampaign(s.ws, {
      name: "two writers",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a", cost: 1 }],
      dailyBudget: 100,
      pacing: { mode: "even" },
    } as CampaignInput);
    const t = Date.parse("2026-06-01T12:00:00Z");
    const newer = { ...initialPacer(t + 120_000, "2026-06-01", 5), mu: 3 };
    const older = { ...initialPacer(t + 60_000, "2026-06-01", 2), mu: 0.5 };
    await s.database.db.execute(upsertPacers([{ campaignId: c.id, state: newer }]));
    await s.database.db.execute(upsertPacers([{ campaignId: c.id, state: older }]));
    expect((await readPacers(s.database.db, [c.id])).get(c.id)).toEqual(newer);
    const newest = { ...newer, lastMs: t + 180_000, mu: 1 };
    await s.database.db.execute(upsertPacers([{ campaignId: c.id, state: newest }]));
    expect((await readPacers(s.database.db, [c.id])).get(c.id)).toEqual(newest);
  });
});
