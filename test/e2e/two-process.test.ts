/**
 * Two real service processes on one PostgreSQL database: each learns the other's feedback within the refresh
 * interval (default 2 s) plus a margin, and no update is lost — after both stop (SIGTERM, exit 0), the
 * persisted arm statistics equal what the decisions and accepted events in the database imply, and what
 * this test itself sent. Includes the races that matter: the same event id sent to both processes at once
 * (counts once), and two different conversions of one decision sent to both at once (the first conversion
 * counts once). An arm paused and an arm added through one process reach the other within the interval
 * too (the paused arm is never served there afterwards; the new one is explored).
 *
 * Runs only with DATABASE_URL (PGlite is one process's embedded database).
 */
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "../helpers/db.ts";
import { http, spawnServer, type ServerProcess } from "../helpers/process.ts";

const DATABASE_URL = process.env.DATABASE_URL;
const ADMIN = "two-process-admin-key-0123456789";
const REFRESH_MS = 2000;
const MARGIN_MS = 4000;
const PER_PROCESS = 150;

if (!DATABASE_URL) {
  console.warn("[two-process] skipped: set DATABASE_URL to run two service processes against PostgreSQL");
}

interface Made {
  decisionId: string;
  arm: string;
  via: "A" | "B";
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

describe.skipIf(!DATABASE_URL)("two service processes on one PostgreSQL database", () => {
  let db: Awaited<ReturnType<typeof createDatabase>> | undefined;
  const procs: ServerProcess[] = [];
  afterAll(async () => {
    for (const p of procs) await p.stop("SIGKILL").catch(() => null);
    await db?.drop();
  });

  it("learn each other's feedback within the refresh interval and lose no update", { timeout: 180_000 }, async () => {
    db = await createDatabase(DATABASE_URL as string);
    const env = { DATABASE_URL: db.url, ADBANDIT_ADMIN_KEY: ADMIN, LOG_LEVEL: "warn" };
    const [A, B] = await Promise.all([spawnServer({ env }), spawnServer({ env })]);
    procs.push(A, B);
    const dump = () => `--- A ---\n${A.output().slice(-3000)}\n--- B ---\n${B.output().slice(-3000)}`;

    const w = await http(A.url, "POST", "/v1/workspaces", ADMIN, { name: "two" });
    expect(w.status, dump()).toBe(201);
    const key = w.body.apiKey as string;
    const c = await http(A.url, "POST", "/v1/campaigns", key, {
      name: "shared",
      kind: "creative",
      objective: "conversions",
      strategy: { type: "thompson" },
      arms: [{ key: "a" }, { key: "b" }, { key: "c" }],
    });
    expect(c.status, dump()).toBe(201);
    const campaignId = c.body.id as string;

    // B knows a campaign created through A (read from the database)
    const seen = await http(B.url, "GET", `/v1/campaigns/${campaignId}`, key);
    expect(seen.status, dump()).toBe(200);

    // ---- decisions on both, concurrently ----
    const made: Made[] = [];
    const decideOn = async (p: ServerProcess, via: "A" | "B") => {
      const r = await http(p.url, "POST", `/v1/campaigns/${campaignId}/decisions`, key, {
        unitId: `${via}-${made.length}`,
      });
      expect(r.status, r.text).toBe(201);
      made.push({ decisionId: r.body.decisionId, arm: r.body.arm.key, via });
    };
    await Promise.all([
      pool(Array.from({ length: PER_PROCESS }), 8, () => decideOn(A, "A")),
      pool(Array.from({ length: PER_PROCESS }), 8, () => decideOn(B, "B")),
    ]);
    const batch = await http(B.url, "POST", "/v1/decisions/batch", key, {
      requests: Array.from({ length: 50 }, () => ({ campaignId })),
    });
    expect(batch.status).toBe(200);
    for (const d of batch.body.decisions) made.push({ decisionId: d.decisionId, arm: d.arm.key, via: "B" });

    // ---- feedback: each process gets conversions for the other's decisions, plus the races ----
    const fromA = made.filter((m) => m.via === "A");
    const fromB = made.filter((m) => m.via === "B");
    const toB = fromA
      .filter((_, i) => i % 3 === 0)
      .map((m) => ({ id: `conv-${m.decisionId}`, decisionId: m.decisionId, type: "conversion" }));
    const toA = fromB
      .filter((_, i) => i % 4 === 0)
      .map((m) => ({ id: `conv-${m.decisionId}`, decisionId: m.decisionId, type: "conversion" }));
    // same event id to both processes at once
    const bothSame = fromA
      .filter((_, i) => i % 3 === 1)
      .slice(0, 20)
      .map((m) => ({ id: `same-${m.decisionId}`, decisionId: m.decisionId, type: "conversion" }));
    // two different conversions of one decision, one to each process at once
    const splitDecisions = fromB.filter((_, i) => i % 4 === 1).slice(0, 20);
    const splitToA = splitDecisions.map((m) => ({
      id: `s1-${m.decisionId}`,
      decisionId: m.decisionId,
      type: "conversion",
    }));
    const splitToB = splitDecisions.map((m) => ({
      id: `s2-${m.decisionId}`,
      decisionId: m.decisionId,
      type: "conversion",
    }));

    const chunks = <T>(xs: T[], n: number) =>
      Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));
    const post = async (p: ServerProcess, events: unknown[]) => {
      const r = await http(p.url, "POST", "/v1/events", key, { events });
      expect(r.status, r.text).toBe(200);
      return r.body as { accepted: number; duplicates: number; rejected: number };
    };
    const answers = await Promise.all([
      ...chunks(toB, 10).map((e) => post(B, e)),
      ...chunks(toA, 10).map((e) => post(A, e)),
      ...bothSame.flatMap((e) => [post(A, [e]), post(B, [e])]),
      ...splitToA.map((e) => post(A, [e])),
      ...splitToB.map((e) => post(B, [e])),
    ]);
    const feedbackDone = Date.now();
    const total = answers.reduce(
      (s, a) => ({
        accepted: s.accepted + a.accepted,
        duplicates: s.duplicates + a.duplicates,
        rejected: s.rejected + a.rejected,
      }),
      { accepted: 0, duplicates: 0, rejected: 0 },
    );
    expect(total.rejected).toBe(0);
    expect(total.duplicates).toBe(bothSame.length);
    expect(total.accepted).toBe(toA.length + toB.length + bothSame.length + 2 * splitDecisions.length);

    // what the accepted feedback implies, per arm
    const converted = new Set([...toA, ...toB, ...bothSame, ...splitToA].map((e) => e.decisionId));
    const expected: Record<string, { n: number; conv: number }> = {
      a: { n: 0, conv: 0 },
      b: { n: 0, conv: 0 },
      c: { n: 0, conv: 0 },
    };
    for (const m of made) {
      expected[m.arm].n += 1;
      if (converted.has(m.decisionId)) expected[m.arm].conv += 1;
    }

    // ---- each process learns everything within the refresh interval + margin ----
    const view = async (p: ServerProcess) => {
      const r = await http(p.url, "GET", `/v1/campaigns/${campaignId}/arms`, key);
      const rows = (Array.isArray(r.body) ? r.body : r.body.arms) as Array<{
        key: string;
        decisions: number;
        conversions: number;
      }>;
      return Object.fromEntries(rows.map((a) => [a.key, { n: a.decisions, conv: a.conversions }]));
    };
    for (const p of [A, B]) {
      let last: unknown;
      let ok = false;
      while (Date.now() - feedbackDone < REFRESH_MS + MARGIN_MS) {
        last = await view(p);
        if (JSON.stringify(last) === JSON.stringify(expected)) {
          ok = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok, `process on ${p.url} saw ${JSON.stringify(last)}, expected ${JSON.stringify(expected)}`).toBe(true);
      console.info(
        `[two-process] ${p === A ? "A" : "B"} saw all feedback ${Date.now() - feedbackDone} ms after the last answer`,
      );
    }

    // ---- configuration changed through A reaches B within the refresh interval ----
    expect((await http(A.url, "PATCH", `/v1/campaigns/${campaignId}/arms/a`, key, { status: "paused" })).status).toBe(
      200,
    );
    expect((await http(A.url, "POST", `/v1/campaigns/${campaignId}/arms`, key, { key: "d" })).status).toBe(201);
    const changed = Date.now();
    let caughtUp = false;
    while (Date.now() - changed < REFRESH_MS + MARGIN_MS) {
      const r = await http(B.url, "GET", `/v1/campaigns/${campaignId}/arms`, key);
      const rows = r.body.arms as Array<{ key: string; status: string }>;
      if (rows.some((a) => a.key === "a" && a.status === "paused") && rows.some((a) => a.key === "d")) {
        caughtUp = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(caughtUp, "B did not see the paused arm and the new arm in time").toBe(true);
    expected.d = { n: 0, conv: 0 };
    // The new arm starts at the prior and is explored: chosen within 400 decisions. (Within 60, as asserted
    // before, it was missed once on a clean-clone CI: b and c, whose conversions count at once while their
    // pending decisions weigh only as the delay model says, can hold nearly all the probability of the max.)
    for (let i = 0; i < 400 && (i < 60 || expected.d.n === 0); i++) {
      const r = await http(B.url, "POST", `/v1/campaigns/${campaignId}/decisions`, key, {});
      expect(r.status).toBe(201);
      expect(r.body.arm.key).not.toBe("a");
      expected[r.body.arm.key].n += 1;
    }
    expect(expected.d.n).toBeGreaterThan(0);

    // ---- SIGTERM: both flush, close and exit 0 ----
    const codes = await Promise.all([A.stop("SIGTERM"), B.stop("SIGTERM")]);
    expect(codes, dump()).toEqual([0, 0]);

    // ---- the database agrees with itself and with what was sent ----
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const stats = await sql<{ arm_key: string; n: number; sum: number; sum_sq: number }[]>`
        select arm_key, n, sum, sum_sq from arm_stats where campaign_id = ${campaignId} order by arm_key`;
      const implied = await sql<{ arm_key: string; n: number; conv: number }[]>`
        select d.arm_key, count(*)::float8 as n,
               count(*) filter (where exists (
                 select 1 from events e
                 where e.decision_id = d.id and e.type = 'conversion' and e.attributed and e.invalid_reason is null
               ))::float8 as conv
        from decisions d where d.campaign_id = ${campaignId} group by d.arm_key order by d.arm_key`;
      const [{ count: eventRows }] = await sql<{ count: number }[]>`
        select count(*)::int as count from events where campaign_id = ${campaignId}`;
      expect(eventRows).toBe(total.accepted);
      const fromStats = Object.fromEntries(stats.map((s) => [s.arm_key, { n: s.n, conv: s.sum }]));
      const fromLog = Object.fromEntries(implied.map((s) => [s.arm_key, { n: s.n, conv: s.conv }]));
      for (const k of Object.keys(expected)) fromLog[k] ??= { n: 0, conv: 0 };
      expect(fromLog).toEqual(expected);
      expect(fromStats).toEqual(expected);
      // rewards are 0/1, so Σ r² = Σ r
      for (const s of stats) expect(s.sum_sq).toBe(s.sum);
    } finally {
      await sql.end();
    }
  });
});
