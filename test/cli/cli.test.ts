/**
 * Every command of the operator CLI, in-process against the service over HTTP (PGlite, or PostgreSQL with
 * DATABASE_URL); simulate/evaluate as wrapped
 * child processes; and the `adbandit` bin itself once, as a process.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scanCampaign } from "../../src/fraud/scan.ts";
import { EXIT } from "../../src/cli/output.ts";
import { ADMIN_KEY } from "../helpers/service.ts";
import { storedEntity } from "../helpers/privacy.ts";
import { freePort, repoRoot } from "../helpers/process.ts";
import { startServed, type Served } from "../client/serve.ts";
import { cli, exec } from "./run.ts";

const dir = mkdtempSync(join(tmpdir(), "adbandit-cli-"));
let s: Served;
let env: Record<string, string>;
let wsId: string;
beforeAll(async () => {
  s = await startServed({ seed: 3 });
  const r = await cli(["workspaces", "create", "operators", "--json"], {
    ADBANDIT_URL: s.url,
    ADBANDIT_ADMIN_KEY: ADMIN_KEY,
  });
  expect(r.code, r.err).toBe(0);
  wsId = r.json().id;
  env = { ADBANDIT_URL: s.url, ADBANDIT_API_KEY: r.json().apiKey };
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const YAML_CAMPAIGN = `name: spring sale
kind: creative
objective: revenue
strategy: {type: thompson}
arms:
  - {key: a, name: Creative A}
  - {key: b, name: Creative B}
`;

describe("workspaces", () => {
  it("create prints the id and the key once, as a table", async () => {
    const r = await cli(["workspaces", "create", "second", "--api-key", ADMIN_KEY], { ADBANDIT_URL: s.url });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^id +[0-9a-f-]{36}\nname +second\napiKey +\S+\n$/);
  });
  it("without the admin key: exit 4 and the server's message", async () => {
    const r = await cli(["workspaces", "create", "x"], env);
    expect(r.code).toBe(EXIT.auth);
    expect(r.err).toBe("error: admin key required (unauthorized, HTTP 401)\n");
  });
});

describe("campaigns and arms", () => {
  let id: string;
  it("create from YAML, and from JSON", async () => {
    const r = await cli(["campaigns", "create", file("c.yaml", YAML_CAMPAIGN), "--json"], env);
    expect(r.code, r.err).toBe(0);
    id = r.json().id;
    expect(r.json()).toMatchObject({ name: "spring sale", objective: "revenue", status: "active" });
    const plain = await cli(
      [
        "campaigns",
        "create",
        file(
          "c.json",
          JSON.stringify({
            name: "json one",
            kind: "channel",
            objective: "conversions",
            strategy: { type: "ucb1" },
            arms: [{ key: "email" }, { key: "sms" }],
          }),
        ),
      ],
      env,
    );
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).toMatch(/^id +[0-9a-f-]{36}\nname +json one\n/);
    expect(plain.out).toMatch(/arm +name +cost +status\n-+ +-+ +-+ +-+\nemail +– +0 +active\nsms +– +0 +active\n$/);
  });

  it("a bad file: exit 3 with the server's message and field; an unreadable one: exit 2", async () => {
    const r = await cli(["campaigns", "create", file("bad.yaml", YAML_CAMPAIGN.replace("key: b", "key: 'b b'"))], env);
    expect(r.code).toBe(EXIT.refused);
    expect(r.err).toMatch(/^error: arms\.1\.key: .*\(invalid_request, HTTP 400\)\n {2}arms\.1\.key: /);
    const missing = await cli(["campaigns", "create", join(dir, "nope.yaml")], env);
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.err).toContain("nope.yaml: ENOENT");
    const broken = await cli(["campaigns", "create", file("broken.json", "{")], env);
    expect(broken.code).toBe(EXIT.usage);
  });

  it("list (table and JSON), show, pause, resume, archive", async () => {
    const t = await cli(["campaigns", "list"], env);
    expect(t.code).toBe(0);
    expect(t.out.split("\n")[0]).toMatch(/^id +name +kind +objective +strategy +status +arms +created$/);
    expect(t.out).toContain("spring sale");
    expect(
      (await cli(["campaigns", "list", "--json"], env)).json().campaigns.map((c: { id: string }) => c.id),
    ).toContain(id);
    expect((await cli(["campaigns", "show", id], env)).out).toMatch(/status +active/);
    expect((await cli(["campaigns", "pause", id], env)).out).toBe(`${id} paused\n`);
    expect((await cli(["campaigns", "resume", id], env)).out).toBe(`${id} active\n`);
    const other = (await cli(["campaigns", "create", file("c3.yaml", YAML_CAMPAIGN), "--json"], env)).json().id;
    expect((await cli(["campaigns", "archive", other], env)).out).toBe(`${other} archived\n`);
    const gone = await cli(["campaigns", "show", "00000000-0000-4000-8000-000000000000"], env);
    expect([gone.code, gone.err]).toEqual([EXIT.refused, "error: campaign not found (not_found, HTTP 404)\n"]);
  });

  it("arms add (with cost and metadata), pause, list", async () => {
    const r = await cli(
      ["arms", "add", id, "c", "--name", "Creative C", "--cost", "0.25", "--metadata", '{"url":"https://x/c.png"}'],
      env,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/key +c\nname +Creative C\ncost +0\.25\nstatus +active/);
    expect((await cli(["arms", "pause", id, "c"], env)).out).toBe(`${id} c paused\n`);
    expect((await cli(["arms", "resume", id, "c"], env)).out).toBe(`${id} c active\n`);
    expect((await cli(["arms", "pause", id, "c"], env)).out).toBe(`${id} c paused\n`);
    const extra = await cli(["arms", "add", id, "z"], env);
    expect(extra.code, extra.err).toBe(0);
    expect((await cli(["arms", "archive", id, "z"], env)).out).toBe(`${id} z archived\n`);
    expect((await cli(["arms", "resume", id, "z"], env)).code).toBe(EXIT.refused);
    const list = await cli(["arms", "list", id, "--json"], env);
    expect(list.json().arms.map((a: { key: string; status: string }) => `${a.key}:${a.status}`)).toEqual([
      "a:active",
      "b:active",
      "c:paused",
      "z:archived",
    ]);
    expect((await cli(["arms", "list", id], env)).out.split("\n")[0]).toMatch(/^arm +status +decisions/);
    const bad = await cli(["arms", "add", id, "d", "--cost", "cheap"], env);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toContain("--cost must be a number");
  });

  it("report: a table, --csv, --json; export: JSONL to stdout and CSV to a file", async () => {
    const c = s.client(env.ADBANDIT_API_KEY);
    const decs = await c.decideBatch(Array.from({ length: 20 }, (_, i) => ({ campaignId: id, unitId: `u${i}` })));
    const ids = decs.map((d) => (d as { decisionId: string }).decisionId);
    await c.sendEvents([
      ...ids.map((decisionId, i) => ({ id: `i${i}`, decisionId, type: "impression" as const, cost: 0.1 })),
      { id: "v1", decisionId: ids[0], type: "conversion", value: 40 },
    ]);
    const t = await cli(["report", id], env);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^campaign [0-9a-f-]{36} · revenue · /);
    expect(t.out).toMatch(/\(campaign\) +20 +20 +0 +1 +40 +2 +38 /);
    expect(t.out).toContain("lift over an even split (ips)");
    const j = await cli(["report", id, "--json", "--granularity", "hour"], env);
    expect(j.json().total.campaign).toMatchObject({ decisions: 20, impressions: 20, conversions: 1, revenue: 40 });
    expect(j.json().granularity).toBe("hour");
    const asked: string[] = [];
    const direct = await cli(["report", id, "--json", "--granularity", "hour", "--source", "direct"], env, {
      transport: { fetch: (req) => (asked.push(new URL(req.url).searchParams.get("source") ?? ""), fetch(req)) },
    });
    expect(asked).toEqual(["direct"]);
    expect(direct.json().total).toEqual(j.json().total);
    expect((await cli(["report", id, "--source", "cache"], env)).code).toBe(EXIT.usage);
    const csv = await cli(["report", id, "--csv"], env);
    expect(csv.out.split("\n")[0]).toContain("period");
    expect(csv.out).toContain("total");

    const x = await cli(["export", id], env);
    expect(x.code, x.err).toBe(0);
    const rows = x.stream
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.decisionId).sort()).toEqual([...ids].sort());
    const out = join(dir, "log.csv");
    expect((await cli(["export", id, "--format", "csv", "-o", out], env)).code).toBe(0);
    expect(readFileSync(out, "utf8").trim().split("\n")).toHaveLength(21);
    // --served all: the same decisions (all served here), now with served and reason.
    const a = await cli(["export", id, "--served", "all"], env);
    expect(a.code, a.err).toBe(0);
    const allRows = a.stream
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(allRows.map((r) => [r.served, r.reason])).toEqual(ids.map(() => [true, null]));
    expect((await cli(["export", id, "--served", "some"], env)).code).toBe(EXIT.usage);
  });
});

describe("anomalies", () => {
  it("list, dismiss, confirm, block", async () => {
    const c = s.client(env.ADBANDIT_API_KEY);
    const campaignId = (await cli(["campaigns", "create", file("f.yaml", YAML_CAMPAIGN), "--json"], env)).json().id;
    const decs = (await c.decideBatch(Array.from({ length: 3 }, () => ({ campaignId })))) as { decisionId: string }[];
    const T0 = Math.floor(Date.now() / 60_000) * 60_000;
    const source = {
      ip: "198.51.100.7",
      userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
    };
    await c.sendEvents(
      decs.flatMap((d, i) =>
        [1, 2].map((k) => ({
          id: `a${i}-${k}`,
          decisionId: d.decisionId,
          type: "click" as const,
          occurredAt: new Date(T0 + k * 1000).toISOString(),
          source,
        })),
      ),
    );
    await scanCampaign(s.h.service.deps.db, { id: campaignId, workspaceId: wsId }, new Date(T0 + 30 * 60_000), {
      recompute: (x) => s.h.service.deps.engine.recompute(x),
    });
    const list = await cli(["anomalies", "list", "--campaign", campaignId, "--status", "open"], env);
    expect(list.code, list.err).toBe(0);
    // The source as stored: the keyed hash of its /24 (src/privacy), shown once with its kind.
    const ip = await storedEntity(s.h.service.deps.db, wsId, "ip", source.ip);
    expect(ip).toMatch(/^ip:/);
    expect(list.out).toMatch(new RegExp(`duplicate_click +${ip} +GIVT`));
    const aid = (await cli(["anomalies", "list", "--json"], env)).json().anomalies[0].id;
    expect((await cli(["anomalies", "dismiss", aid, "--note", "ok"], env)).out).toMatch(
      new RegExp(`^${aid} dismissed`),
    );
    expect((await cli(["anomalies", "confirm", aid], env)).out).toMatch(new RegExp(`^${aid} confirmed`));
    const b = await cli(["anomalies", "block", aid, "--note", "farm"], env);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(new RegExp(`^${aid} confirmed; blocked ip ${ip} \\(`));
    const badStatus = await cli(["anomalies", "list", "--status", "maybe"], env);
    expect(badStatus.code).toBe(EXIT.usage);
  });
});

describe("keys", () => {
  it("create, list, revoke; a key without the role: exit 4", async () => {
    const c = await cli(["keys", "create", "--role", "writer", "--name", "etl", "--json"], env);
    expect(c.code, c.err).toBe(0);
    const k = c.json();
    expect(k).toMatchObject({ role: "writer", name: "etl" });
    const l = await cli(["keys", "list"], env);
    expect(l.out).toMatch(new RegExp(`${k.id} +${k.prefix} +etl +writer +\\S+ +–`));
    const w = await cli(["keys", "list"], { ...env, ADBANDIT_API_KEY: k.key });
    expect(w.code).toBe(EXIT.auth);
    expect(w.err).toMatch(/\(forbidden, HTTP 403\)/);
    expect((await cli(["keys", "revoke", k.id], env)).out).toMatch(new RegExp(`^revoked ${k.id} at `));
    expect((await cli(["campaigns", "list"], { ...env, ADBANDIT_API_KEY: k.key })).code).toBe(EXIT.auth);
    expect((await cli(["keys", "create", "--role", "owner"], env)).code).toBe(EXIT.usage);
  });
});

describe("configuration and exit codes", () => {
  it("no key: 2; unknown key: 4; nothing listening: 5; unknown command: 2", async () => {
    expect((await cli(["campaigns", "list"], { ADBANDIT_URL: s.url })).code).toBe(EXIT.usage);
    expect((await cli(["campaigns", "list"], { ADBANDIT_URL: s.url, ADBANDIT_API_KEY: "nope" })).code).toBe(EXIT.auth);
    const down = await cli(["campaigns", "list", "--retries", "1"], {
      ADBANDIT_URL: `http://127.0.0.1:${await freePort()}`,
      ADBANDIT_API_KEY: "k",
    });
    expect(down.code).toBe(EXIT.unavailable);
    expect(down.err).toMatch(/ECONNREFUSED.*\(network\)/);
    expect((await cli(["campaings"], env)).code).toBe(EXIT.usage);
    expect((await cli(["--help"], env)).code).toBe(0);
  });
});

describe("simulate and evaluate (the existing command lines, wrapped)", () => {
  it("simulate passes its arguments through and keeps its exit code", async () => {
    const scenario = file(
      "s.yaml",
      "name: wrap\narms: [{key: a, rate: 0.02}, {key: b, rate: 0.04}]\ntraffic: {rounds: 500}\nrepetitions: 1\ncheckpoints: 5\nstrategies: [{type: thompson}]\n",
    );
    const r = await cli(["simulate", scenario, "--workers", "0", "--out", join(dir, "sim"), "--no-progress"], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^wrap: 1 repetitions/);
    const bad = await cli(
      [
        "simulate",
        file(
          "bad.json",
          JSON.stringify({
            name: "b",
            arms: [{ key: "a", rate: -1 }],
            traffic: { rounds: 1 },
            strategies: [{ type: "thompson" }],
          }),
        ),
        "--workers",
        "0",
      ],
      env,
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("arms.0.rate");
  });

  it("evaluate on an exported log", async () => {
    const logs = file(
      "logs.csv",
      `action,propensity,reward\n${Array.from({ length: 200 }, (_, i) => `${i % 2 ? "a" : "b"},0.5,${i % 3 === 0 ? 1 : 0}`).join("\n")}\n`,
    );
    const r = await cli(["evaluate", "--logs", logs, "--policy", "arm:a", "--bootstrap", "20", "--json"], env);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).rows).toBe(200);
  });
});

describe("the bin", () => {
  const bin = (args: string[], extraEnv: Record<string, string> = {}) =>
    exec(process.execPath, [join(repoRoot, "src/cli/bin.js"), ...args], repoRoot, extraEnv);

  it("`adbandit` runs as a process: help, and a real call with exit codes", async () => {
    const help = await bin(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: adbandit");
    const list = await bin(["campaigns", "list", "--json"], env);
    expect(list.code, list.err).toBe(0);
    expect(JSON.parse(list.out).campaigns.length).toBeGreaterThan(0);
    const missing = await bin(["campaigns", "show", "00000000-0000-4000-8000-000000000000"], env);
    expect([missing.code, missing.err]).toEqual([3, "error: campaign not found (not_found, HTTP 404)\n"]);
  });
});
