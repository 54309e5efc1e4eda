/**
 * The scan's SQL aggregates equal the in-memory ones (`aggregateTraffic`) over the same events, so the
 * detectors — tested and measured in memory — decide the same in the database. Seeded synthetic traffic
 * (7 hours, a duplicate-click injection, some events without sources) is written straight into `events`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { startHarness, type Harness } from "../helpers/service.ts";
import { aggregateTraffic, type TrafficAggregates } from "../../src/fraud/aggregates.ts";
import { DETECTION_DEFAULTS, windowsOf } from "../../src/fraud/detect.ts";
import { loadAggregates } from "../../src/fraud/scan.ts";
import { generateTraffic } from "../../src/fraud/synthetic.ts";
import type { TrafficEvent } from "../../src/fraud/types.ts";

let h: Harness;
const CAMPAIGN = "00000000-0000-4000-8000-00000000c001";
const WORKSPACE = "00000000-0000-4000-8000-00000000a001";
const uuidOf = (id: string) => `00000000-0000-4000-8000-${Number(id.slice(1)).toString(16).padStart(12, "0")}`;
let events: TrafficEvent[];
let end: number;

beforeAll(async () => {
  h = await startHarness({ seed: 5 });
  const run = generateTraffic({
    seed: 11,
    minutes: 420,
    impressionsPerMinute: 30,
    users: 300,
    fraud: "duplicate_click",
  });
  end = run.end;
  events = run.events.map((e, i) => ({
    ...e,
    occurredAt: Math.floor(e.occurredAt), // the database keeps what an ISO string says: milliseconds
    decisionId: e.decisionId ? uuidOf(e.decisionId) : null,
    // Some events name no source at all.
    ...(i % 97 === 0 ? { ip: null, userAgent: null, publisher: null, placement: null } : {}),
  }));
  const db = h.service.deps.db;
  for (let i = 0; i < events.length; i += 500) {
    const chunk = events.slice(i, i + 500);
    await db.execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost,
        occurred_at, source_ip, source_user_agent, source_publisher, source_placement, attributed)
      values ${sql.join(
        chunk.map(
          (
            e,
          ) => sql`(${WORKSPACE}::uuid, ${e.id}, ${e.decisionId}::uuid, ${CAMPAIGN}::uuid, 'a', ${e.type}, ${e.value}, ${e.cost},
            ${new Date(e.occurredAt).toISOString()}::timestamptz, ${e.ip}, ${e.userAgent}, ${e.publisher}, ${e.placement}, true)`,
        ),
        sql`, `,
      )}`);
  }
});
afterAll(async () => {
  await h?.close();
});

const sorted = <T>(xs: readonly T[]) => [...xs].map((x) => JSON.stringify(x)).sort();

function comparable(a: TrafficAggregates) {
  return {
    now: a.now,
    short: a.short,
    long: a.long,
    firstEventAt: a.firstEventAt,
    baselineStart: a.baselineStart,
    baselineTotals: a.baselineTotals,
    hours: sorted(a.hours),
    minutes: sorted(a.minutes),
    baseline: sorted(a.baseline),
    userAgents: sorted(a.userAgents),
    repeatClicks: sorted(a.repeatClicks.map((e) => e.id)),
  };
}

describe("SQL aggregates", () => {
  it.each([0, -125 * 60_000])("equal the in-memory aggregates (scan at the end %d ms)", async (shift) => {
    // Half a minute into a minute: windows end on the whole minute in both.
    const now = end + shift + 30_000;
    const w = windowsOf(now, DETECTION_DEFAULTS);
    const fromDb = await loadAggregates(h.service.deps.db, CAMPAIGN, w);
    const inMemory = aggregateTraffic(
      events.filter((e) => e.occurredAt < w.now),
      [],
      w,
    );
    expect(fromDb.hours.length).toBeGreaterThan(20);
    expect(fromDb.minutes.length).toBeGreaterThan(50);
    expect(fromDb.repeatClicks.length).toBeGreaterThan(0);
    expect(comparable(fromDb)).toEqual(comparable(inMemory));
  });
});
