/**
 * `adbandit import events`: 100,000 events from CSV, interrupted by a lost connection (the server stored a
 * batch whose answer never came back, then went away), resumed with the same command: every event stored
 * once, and the summaries over both runs count each row once. Plus rejected rows with reasons, JSONL, and
 * an interruption by signal.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdbanditClient } from "../../src/client/index.ts";
import { EXIT } from "../../src/cli/output.ts";
import { creativeCampaign } from "../helpers/service.ts";
import { startServed, type Served } from "../client/serve.ts";
import { cli } from "./run.ts";

const dir = mkdtempSync(join(tmpdir(), "adbandit-import-"));
let s: Served;
let c: AdbanditClient;
let env: Record<string, string>;
beforeAll(async () => {
  s = await startServed({ seed: 5 });
  const ws = await s.workspace("import");
  c = s.client(ws.apiKey);
  env = { ADBANDIT_URL: s.url, ADBANDIT_API_KEY: ws.apiKey };
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function decisionsFor(campaignName: string, n: number): Promise<{ campaignId: string; ids: string[] }> {
  const campaignId = (await c.campaigns.create(creativeCampaign({ name: campaignName, objective: "revenue" }) as never))
    .id;
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1000) {
    const batch = await c.decideBatch(Array.from({ length: Math.min(1000, n - i) }, () => ({ campaignId })));
    for (const d of batch) ids.push((d as { decisionId: string }).decisionId);
  }
  return { campaignId, ids };
}

describe("100,000 events, interrupted and resumed", () => {
  it("stores each event once and counts each row once", async () => {
    const N = 100_000;
    const { campaignId, ids } = await decisionsFor("bulk", 1000);
    const sent = { impression: 0, click: 0, conversion: 0, revenue: 0 };
    // Dated just after the decisions, 1 ms apart: within the service's clock-skew tolerance (5 min).
    const t0 = Date.now();
    let csv = "id,decision_id,type,value,occurred_at\n";
    for (let i = 0; i < N; i++) {
      const type = i % 20 === 0 ? "conversion" : i % 5 === 0 ? "click" : "impression";
      const value = type === "conversion" ? (i % 7) + 1 : "";
      sent[type]++;
      if (type === "conversion") sent.revenue += value as number;
      csv += `ev-${i},${ids[i % ids.length]},${type},${value},${new Date(t0 + i).toISOString()}\n`;
    }
    const file = join(dir, "events.csv");
    writeFileSync(file, csv);

    // Run 1: the 40th request reaches the server, which stores the batch, but the answer is lost; from
    // then on the service is gone. The transport's retries fail, the import stops with the checkpoint saved.
    let requests = 0;
    let gone = false;
    const flaky = async (req: Request) => {
      if (gone) throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      if (new URL(req.url).pathname === "/v1/events" && ++requests === 40) {
        await fetch(req);
        gone = true;
        throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      }
      return fetch(req);
    };
    const first = await cli(["import", "events", file, "--json"], env, {
      transport: { fetch: flaky, sleep: async () => {} },
    });
    expect(first.code, first.err).toBe(EXIT.unavailable);
    expect(first.err).toContain("run the same command again to resume");
    const partial = JSON.parse(readFileSync(`${file}.summary.json`, "utf8"));
    expect(partial.complete).toBe(false);
    expect(partial.rows).toBeGreaterThanOrEqual(38_000);
    expect(partial.rows).toBeLessThan(40_000);
    expect(partial.rows % 1000).toBe(0);

    // Run 2: the same command resumes after the counted prefix.
    const second = await cli(["import", "events", file, "--json"], env);
    expect(second.code, second.err).toBe(0);
    const done = second.json();
    expect(done).toMatchObject({ complete: true, rows: N, accepted: N, duplicates: 0, rejected: 0, conflicts: 0 });
    // At least the batch whose answer was lost was stored by run 1 and acknowledged by run 2.
    expect(done.recovered).toBeGreaterThanOrEqual(1000);
    expect(readFileSync(`${file}.rejected.jsonl`, "utf8")).toBe("");

    // The service holds every event once: the report's counts are the file's.
    const r = await c.reports.campaign(campaignId, {
      from: new Date(t0 - 86_400_000).toISOString(),
      to: new Date(t0 + 86_400_000).toISOString(),
    });
    expect(r.total.campaign).toMatchObject({
      impressions: sent.impression,
      clicks: sent.click,
      revenue: sent.revenue,
    });
    expect(r.total.campaign.conversions).toBe(sent.conversion);

    // Run 3: a completed import does nothing.
    let calls = 0;
    const third = await cli(["import", "events", file, "--json"], env, {
      transport: { fetch: (req) => (calls++, fetch(req)) },
    });
    expect([third.code, calls, third.json().accepted]).toEqual([0, 0, N]);
  }, 300_000);
});

describe("rejected rows, JSONL, interruption by signal", () => {
  it("CSV: rows rejected here and by the server are listed with reasons; exit 6", async () => {
    const { ids } = await decisionsFor("rejects", 3);
    const file = join(dir, "mixed.csv");
    writeFileSync(
      file,
      [
        "id,decisionId,type,value,cost,ip,user_agent,publisher",
        `m1,${ids[0]},impression,,0.01,10.0.0.1,"Mozilla/5.0 (Windows NT 10.0; Win64; x64), quoted",pub-1`,
        `m2,${ids[0]},click,,,,,`,
        `m3,${ids[1]},purchase,,,,,`,
        `m4,00000000-0000-4000-8000-000000000000,click,,,,,`,
        `,${ids[2]},click,,,,,`,
        `m6,${ids[2]},conversion,abc,,,,`,
        `m1,${ids[0]},impression,,0.01,10.0.0.1,"Mozilla/5.0 (Windows NT 10.0; Win64; x64), quoted",pub-1`,
        `m9,${ids[0]}`,
      ].join("\n"),
    );
    const r = await cli(["import", "events", file, "--batch", "2"], env);
    expect(r.code, r.err).toBe(EXIT.partial);
    expect(r.out).toMatch(/^imported .*mixed\.csv: 8 rows\n/);
    const summary = JSON.parse(readFileSync(`${file}.summary.json`, "utf8"));
    expect(summary).toMatchObject({ rows: 8, accepted: 2, duplicates: 1, rejected: 5, recovered: 0 });
    const rejects = readFileSync(`${file}.rejected.jsonl`, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rejects.map((x) => [x.line, x.id, x.status])).toEqual([
      [4, "m3", "rejected"],
      [5, "m4", "rejected"],
      [6, "", "rejected"],
      [7, "m6", "rejected"],
      [9, "m9", "rejected"],
    ]);
    expect(rejects[0].reason).toMatch(/^invalid: type: /);
    expect(rejects[1].reason).toBe("unknown_decision");
    expect(rejects[2].reason).toMatch(/^invalid: id: /);
    expect(rejects[3].reason).toMatch(/^invalid: value: /);
    expect(rejects[4].reason).toMatch(/^invalid: type: /);
    expect(Object.values(summary.reasons).reduce((a: number, b) => a + (b as number), 0)).toBe(5);
    const exported = await new Response(
      await c.exportDecisions((await c.campaigns.list()).find((x) => x.name === "rejects")!.id),
    ).text();
    expect(exported.split("\n").filter(Boolean)).toHaveLength(3);
  });

  it("JSONL, stopped by a signal after the first batch, resumed", async () => {
    const { ids } = await decisionsFor("jsonl", 10);
    const file = join(dir, "events.jsonl");
    writeFileSync(
      file,
      `${Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `j${i}`, decisionId: ids[i % 10], type: "impression" })).join("\n")}\n\nnot json\n`,
    );
    const stop = new AbortController();
    let n = 0;
    const r1 = await cli(["import", "events", file, "--batch", "10", "--concurrency", "1"], env, {
      signal: stop.signal,
      transport: {
        fetch: async (req) => {
          const res = await fetch(req);
          if (++n === 1) stop.abort();
          return res;
        },
      },
    });
    expect(r1.code, r1.err).toBe(EXIT.interrupted);
    expect(r1.out).toMatch(/^interrupted .*: (10|20) rows\n/);
    expect(r1.out).toContain("resume: run the same command again");
    const r2 = await cli(["import", "events", file, "--batch", "10", "--json"], env);
    expect(r2.code).toBe(EXIT.partial);
    expect(r2.json()).toMatchObject({ complete: true, rows: 51, accepted: 50, duplicates: 0, rejected: 1 });
    expect(r2.json().reasons).toEqual({ "invalid: not a JSON object": 1 });
    // --restart imports from the first row: the server already has every event.
    const r3 = await cli(["import", "events", file, "--batch", "10", "--json", "--restart"], env);
    expect(r3.json()).toMatchObject({ rows: 51, accepted: 0, duplicates: 50, rejected: 1 });
  });

  it("a changed file is not resumed against an old checkpoint; a bad format is a usage error", async () => {
    const file = join(dir, "events.jsonl");
    writeFileSync(file, `${JSON.stringify({ id: "x", decisionId: "y", type: "click" })}\n`);
    const r = await cli(["import", "events", file], env);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain("--restart");
    const weird = join(dir, "events.txt");
    writeFileSync(weird, "");
    expect((await cli(["import", "events", weird], env)).code).toBe(EXIT.usage);
    expect((await cli(["import", "events", join(dir, "none.csv")], env)).code).toBe(EXIT.usage);
  });
});

describe("import decisions", () => {
  const HOUR = 3_600_000;

  it("20,000 decisions from CSV, interrupted by a lost answer and resumed: each logged and counted once; their events then attribute to them", async () => {
    const N = 20_000;
    const campaignId = (await c.campaigns.create(creativeCampaign({ name: "historical" }) as never)).id;
    await c.campaigns.pause(campaignId);
    const t0 = Date.now() - 20 * 24 * HOUR;
    const arms = ["a", "b", "c"];
    const perArm = { a: 0, b: 0, c: 0 } as Record<string, number>;
    const ids: string[] = [];
    let csv = "decision_id,arm_key,propensity,decided_at,unit_id,context\n";
    for (let i = 0; i < N; i++) {
      const arm = arms[i % 3 === 0 ? 0 : i % 3];
      perArm[arm]++;
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      ids.push(id);
      csv += `${id},${arm},0.${(i % 9) + 1},${new Date(t0 + i * 1000).toISOString()},u-${i % 500},"{""country"":""fr""}"\n`;
    }
    const file = join(dir, "decisions.csv");
    writeFileSync(file, csv);

    let requests = 0;
    let gone = false;
    const flaky = async (req: Request) => {
      if (gone) throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      if (new URL(req.url).pathname.endsWith("/decisions/import") && ++requests === 8) {
        await fetch(req);
        gone = true;
        throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      }
      return fetch(req);
    };
    const args = ["import", "decisions", file, "--campaign", campaignId, "--json"];
    const first = await cli(args, env, { transport: { fetch: flaky, sleep: async () => {} } });
    expect(first.code, first.err).toBe(EXIT.unavailable);
    expect(first.err).toContain("run the same command again to resume");
    const partial = JSON.parse(readFileSync(`${file}.summary.json`, "utf8"));
    expect(partial).toMatchObject({ complete: false });
    expect(partial.rows).toBeGreaterThanOrEqual(6000);
    expect(partial.rows).toBeLessThan(8000);

    const second = await cli(args, env);
    expect(second.code, second.err).toBe(0);
    expect(second.json()).toMatchObject({ complete: true, rows: N, accepted: N, duplicates: 0, rejected: 0 });
    expect(second.json().recovered).toBeGreaterThanOrEqual(1000);

    // Logged once each (the export), counted once each as trials of their arms.
    const exported = (await new Response(await c.exportDecisions(campaignId)).text()).trim().split("\n");
    expect(exported).toHaveLength(N);
    expect(new Set(exported.map((l) => JSON.parse(l).decisionId)).size).toBe(N);
    const byArm = Object.fromEntries((await c.arms.list(campaignId)).map((a) => [a.key, a.decisions]));
    expect(byArm).toEqual(perArm);

    // A rerun from the first row changes nothing.
    const again = await cli([...args, "--restart"], env);
    expect(again.json()).toMatchObject({ rows: N, accepted: 0, duplicates: N, rejected: 0 });
    expect(Object.fromEntries((await c.arms.list(campaignId)).map((a) => [a.key, a.decisions]))).toEqual(perArm);

    // Historical conversions for every 10th decision, an hour after it: imported, they teach.
    let events = "id,decision_id,type,occurred_at\n";
    let conversions = 0;
    for (let i = 0; i < N; i += 10) {
      events += `hc-${i},${ids[i]},conversion,${new Date(t0 + i * 1000 + HOUR).toISOString()}\n`;
      conversions++;
    }
    const evFile = join(dir, "historical-events.csv");
    writeFileSync(evFile, events);
    const ev = await cli(["import", "events", evFile, "--json"], env);
    expect(ev.code, ev.err).toBe(0);
    expect(ev.json()).toMatchObject({ accepted: conversions, rejected: 0 });
    const after = await c.arms.list(campaignId);
    expect(after.reduce((s, a) => s + a.conversions, 0)).toBe(conversions);
    // i ≡ 0 (mod 10) and arm a ⇔ i ≡ 0 (mod 3): a converted every 30th, b and c every 30th of theirs too.
    const a = after.find((x) => x.key === "a")!;
    expect(a.conversions).toBe(Math.ceil(N / 30));
    expect(a.posteriorMean).toBeCloseTo((1 + a.conversions) / (2 + perArm.a), 3);
  }, 300_000);

  it("an export imported into another campaign: the same log (but batch positions); JSONL rows with their own campaignId", async () => {
    const source = (await c.campaigns.create(creativeCampaign({ name: "source" }) as never)).id;
    await c.decideBatch(Array.from({ length: 30 }, (_, i) => ({ campaignId: source, context: { n: i } })));
    const file = join(dir, "export.jsonl");
    const r = await cli(["export", source, "-o", file], env);
    expect(r.code, r.err).toBe(0);
    const target = (await c.campaigns.create(creativeCampaign({ name: "target" }) as never)).id;
    // Without --campaign the rows' own campaignId (the source) is used: they are the source's already.
    const own = await cli(["import", "decisions", file, "--json", "--checkpoint", join(dir, "own.json")], env);
    expect(own.code, own.err).toBe(0);
    expect(own.json()).toMatchObject({ rows: 30, accepted: 0, duplicates: 30 });
    // Into the target, the same ids conflict (a decision id is global): rejected with the reason.
    const into = await cli(["import", "decisions", file, "--campaign", target, "--json"], env);
    expect(into.code).toBe(EXIT.partial);
    expect(into.json()).toMatchObject({ rows: 30, accepted: 0, rejected: 30, reasons: { conflict: 30 } });
    // With fresh ids it is the same log in the target.
    const src = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const copy = join(dir, "copy.jsonl");
    writeFileSync(
      copy,
      src.map((d) => JSON.stringify({ ...d, decisionId: d.decisionId.replace(/^.{8}/, "ffffffff") })).join("\n"),
    );
    const ok = await cli(["import", "decisions", copy, "--campaign", target, "--json"], env);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.json()).toMatchObject({ rows: 30, accepted: 30 });
    const strip = (text: string) =>
      text
        .trim()
        .split("\n")
        .map((l) => {
          // the batch position is the live request's, not the decision's: not imported
          const { decisionId: _d, campaignId: _c, position: _p, ...rest } = JSON.parse(l);
          return JSON.stringify(rest);
        })
        .sort();
    expect(strip(await new Response(await c.exportDecisions(target)).text())).toEqual(
      strip(readFileSync(file, "utf8")),
    );
  });

  it("a file for several campaigns: each row goes to its own campaignId, a batch never mixes two", async () => {
    const x = (await c.campaigns.create(creativeCampaign({ name: "multi x" }) as never)).id;
    const y = (await c.campaigns.create(creativeCampaign({ name: "multi y" }) as never)).id;
    const at = new Date(Date.now() - 2 * HOUR).toISOString();
    // Runs of 3 x, 2 y, 4 x, 1 y (CSV with a campaign_id column), sent by batches of up to 3.
    const plan = [x, x, x, y, y, x, x, x, x, y];
    const file = join(dir, "multi.csv");
    writeFileSync(
      file,
      `campaign_id,decision_id,arm_key,propensity,decided_at\n${plan
        .map((cid, i) => `${cid},50000000-0000-4000-8000-${String(i).padStart(12, "0")},a,0.5,${at}`)
        .join("\n")}\n`,
    );
    const sizes: number[] = [];
    const r = await cli(["import", "decisions", file, "--batch", "3", "--json"], env, {
      transport: {
        fetch: async (req) => {
          const body = JSON.parse(await req.clone().text());
          sizes.push(body.decisions.length);
          return fetch(req);
        },
      },
    });
    expect(r.code, r.err).toBe(0);
    expect(r.json()).toMatchObject({ rows: 10, accepted: 10 });
    expect(sizes).toEqual([3, 2, 3, 1, 1]);
    const count = async (id: string) => (await c.arms.list(id)).find((a) => a.key === "a")!.decisions;
    expect([await count(x), await count(y)]).toEqual([7, 3]);
  });

  it("rows rejected here and by the server, with reasons; an unknown campaign stops; a writer key is refused", async () => {
    const campaignId = (await c.campaigns.create(creativeCampaign({ name: "decision rejects" }) as never)).id;
    const at = new Date(Date.now() - HOUR).toISOString();
    const file = join(dir, "bad-decisions.csv");
    writeFileSync(
      file,
      [
        "decision_id,arm,propensity,decided_at",
        `10000000-0000-4000-8000-000000000001,a,0.5,${at}`,
        `10000000-0000-4000-8000-000000000002,nope,0.5,${at}`,
        `10000000-0000-4000-8000-000000000003,b,0,${at}`,
        `not-a-uuid,b,0.5,${at}`,
        `10000000-0000-4000-8000-000000000005,c,0.5,${new Date(Date.now() + 48 * HOUR).toISOString()}`,
        `10000000-0000-4000-8000-000000000001,a,0.5,${at}`,
      ].join("\n"),
    );
    const r = await cli(["import", "decisions", file, "--campaign", campaignId, "--batch", "2"], env);
    expect(r.code, r.err).toBe(EXIT.partial);
    expect(r.out).toMatch(/^imported .*bad-decisions\.csv: 6 rows\n/);
    const rejects = readFileSync(`${file}.rejected.jsonl`, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rejects.map((x) => [x.line, x.reason.replace(/: .*/, "")])).toEqual([
      [3, "unknown_arm"],
      [4, "invalid"],
      [5, "invalid"],
      [6, "decided_in_future"],
    ]);
    expect(rejects[1].reason).toMatch(/^invalid: propensity: /);
    expect(rejects[2].reason).toMatch(/^invalid: decisionId: /);
    expect(JSON.parse(readFileSync(`${file}.summary.json`, "utf8"))).toMatchObject({
      rows: 6,
      accepted: 1,
      duplicates: 1,
      rejected: 4,
    });

    // No campaign at all: every row is rejected here, nothing is sent.
    const none = await cli(["import", "decisions", file, "--json", "--checkpoint", join(dir, "none.json")], env);
    expect(none.json()).toMatchObject({ rows: 6, rejected: 6 });
    expect(none.json().reasons).toEqual({ "invalid: campaignId: required in the row, or pass --campaign": 6 });

    // An unknown campaign: the server's 404 stops the import (exit 3), resumable.
    const unknown = await cli(
      [
        "import",
        "decisions",
        file,
        "--campaign",
        "00000000-0000-4000-8000-00000000dead",
        "--checkpoint",
        join(dir, "u.json"),
      ],
      env,
    );
    expect(unknown.code).toBe(EXIT.refused);
    expect(unknown.err).toContain("campaign not found");

    // The checkpoint of one kind is not resumed as another.
    const wrongKind = await cli(["import", "events", file], env);
    expect(wrongKind.code).toBe(EXIT.usage);
    expect(wrongKind.err).toContain("is of an import of decisions");

    // Importing decisions needs an admin key.
    const writer = await c.keys.create("writer");
    const w = await cli(
      ["import", "decisions", file, "--campaign", campaignId, "--restart", "--checkpoint", join(dir, "w.json")],
      { ...env, ADBANDIT_API_KEY: writer.key },
    );
    expect(w.code).toBe(EXIT.auth);
    expect(w.err).toContain("needs admin");
  });
});
