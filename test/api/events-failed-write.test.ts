/**
 * An event batch whose last writes fail is not accepted and leaves nothing behind. On PostgreSQL the
 * ingest sends its COMMIT right behind those writes without reading their answers first (learn.ts, store/
 * db.ts `commitPipelines`); a failed write aborts the transaction, so PostgreSQL answers the COMMIT
 * with ROLLBACK — the request must then fail, not answer "accepted". The failure is a trigger on
 * spend_counters (the last write of every batch with a cost). On PGlite the writes are awaited before the
 * COMMIT: the same answers.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rows } from "../../src/store/db.ts";
import { createCampaign, decide, eventId, startHarness, type Harness, type Workspace } from "../helpers/service.ts";

let h: Harness;
let ws: Workspace;
const db = () => h.service.deps.db;

beforeAll(async () => {
  h = await startHarness({ seed: 11 });
  ws = await h.workspace("failed-write");
});
afterAll(async () => {
  await h?.close();
});

const failSpendWrites = async (on: boolean) => {
  if (on) {
    await db().execute(sql`create or replace function adbandit_test_fail() returns trigger language plpgsql as $$
      begin raise exception 'spend write fails (test)'; end $$`);
    await db().execute(
      sql`create trigger adbandit_test_fail before insert or update on spend_counters for each row execute function adbandit_test_fail()`,
    );
  } else await db().execute(sql`drop trigger adbandit_test_fail on spend_counters`);
};

describe("an ingest whose last write fails", () => {
  it("answers an error, stores no event and teaches nothing; the resend is then accepted once", async () => {
    const cid = await createCampaign(ws);
    const d = (await decide(ws, cid)).body;
    const events = [
      { id: eventId(), decisionId: d.decisionId, type: "click", cost: 0.25 },
      { id: eventId(), decisionId: d.decisionId, type: "conversion", value: 1 },
    ];
    const totals = async () =>
      (
        await rows<{ n: number; s: number }>(
          db(),
          sql`select coalesce(sum(n), 0)::float8 as n, coalesce(sum(sum), 0)::float8 as s from arm_stats where campaign_id = ${cid}::uuid`,
        )
      )[0]!;
    const spent = async () =>
      Number(
        (
          await rows<{ c: number }>(
            db(),
            sql`select coalesce(sum(event_cost), 0)::float8 as c from spend_counters where campaign_id = ${cid}::uuid`,
          )
        )[0]!.c,
      );
    const before = await totals();

    await failSpendWrites(true);
    try {
      const r = await ws.post("/v1/events", { events });
      expect(r.status).toBe(500);
    } finally {
      await failSpendWrites(false);
    }
    const stored = async () =>
      (
        await rows<{ n: number }>(
          db(),
          sql`select count(*)::int as n from events where event_id in (${events[0]!.id}, ${events[1]!.id})`,
        )
      )[0]!.n;
    expect(await stored()).toBe(0);
    const [dec] = await rows<{ reward: number; converted: boolean }>(
      db(),
      sql`select reward, converted from decisions where id = ${d.decisionId}::uuid`,
    );
    expect({ reward: Number(dec!.reward), converted: dec!.converted }).toEqual({ reward: 0, converted: false });
    expect(await totals()).toEqual(before);
    expect(await spent()).toBe(0);

    const again = await ws.post("/v1/events", { events });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ accepted: 2, duplicates: 0 });
    expect(await stored()).toBe(2);
    expect(await spent()).toBeCloseTo(0.25, 9);
    expect((await totals()).s).toBe(before.s + 1);
  });
});
