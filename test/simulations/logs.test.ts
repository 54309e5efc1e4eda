/** Log reader: the service's JSONL and CSV exports, the generic CSV, and errors naming line and field. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseCsv, parseJsonl, readLogs } from "../../simulations/ope/logs.ts";

const dir = mkdtempSync(join(tmpdir(), "adbandit-logs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jsonl = [
  '{"decisionId":"d1","timestamp":"2026-11-20T10:00:00Z","campaignId":"c1","action":"email","propensity":0.25,"reward":1,"context":{"segment":"new","age":31},"unitId":"u1","position":2}',
  '{"decisionId":"d2","timestamp":"2026-11-20T10:01:00Z","campaignId":"c1","action":"sms","propensity":0.5,"reward":0,"context":{}}',
].join("\n");

describe("log formats", () => {
  it("reads the service's JSONL export", () => {
    const rows = parseJsonl(`${jsonl}\n\n`);
    expect(rows).toEqual([
      {
        decisionId: "d1",
        timestamp: "2026-11-20T10:00:00Z",
        action: "email",
        propensity: 0.25,
        reward: 1,
        context: { segment: "new", age: 31 },
        position: 2,
        line: 1,
      },
      {
        decisionId: "d2",
        timestamp: "2026-11-20T10:01:00Z",
        action: "sms",
        propensity: 0.5,
        reward: 0,
        context: {},
        position: undefined,
        line: 2,
      },
    ]);
  });

  it("reads the service's CSV export with quoted context_json", () => {
    const csv =
      'decision_id,timestamp,action,propensity,reward,context_json\nd1,2026-11-20T10:00:00Z,email,0.25,1,"{""segment"":""new"",""age"":31}"\nd2,,sms,,0,\n';
    const rows = parseCsv(csv);
    expect(rows[0]).toMatchObject({
      decisionId: "d1",
      action: "email",
      propensity: 0.25,
      reward: 1,
      context: { segment: "new", age: 31 },
    });
    expect(rows[1]).toMatchObject({
      decisionId: "d2",
      timestamp: undefined,
      action: "sms",
      propensity: null,
      reward: 0,
      context: {},
    });
  });

  it("reads a generic CSV with context.<f> and x_<f> columns", () => {
    const rows = parseCsv(
      "action,propensity,reward,context.segment,x_age\r\nemail,0.2,1,new,31\r\nsms,0.8,0,returning,\r\n",
    );
    expect(rows.map((r) => r.context)).toEqual([
      { segment: "new", age: 31 },
      { segment: "returning", age: null },
    ]);
  });

  it("picks the format from the file", () => {
    writeFileSync(join(dir, "a.jsonl"), jsonl);
    writeFileSync(join(dir, "a.csv"), "action,propensity,reward\nemail,0.5,1\n");
    expect(readLogs(join(dir, "a.jsonl"))).toHaveLength(2);
    expect(readLogs(join(dir, "a.csv"))).toHaveLength(1);
  });

  it.each([
    ["jsonl", '{"action":"a","propensity":0.5}', "line 1: reward: missing"],
    ["jsonl", '{"action":"a","propensity":1.5,"reward":1}', "line 1: propensity: must be in [0, 1], got 1.5"],
    ["jsonl", '{"action":"a","propensity":"x","reward":1}', 'line 1: propensity: not a number: "x"'],
    ["jsonl", '{"propensity":0.5,"reward":1}', "line 1: action: missing"],
    ["jsonl", '\n{"action":"a","reward":1,"context":[1]}', "line 2: context: must be an object of feature: value"],
    [
      "jsonl",
      '{"action":"a","reward":1,"context":{"f":{"g":1}}}',
      "line 1: context.f: must be a number, string, boolean or null",
    ],
    ["jsonl", "{oops", /^line 1: \(json\): /],
    ["csv", "action,reward\na,1\n", "line 1: propensity: column missing from the header"],
    ["csv", "action,propensity,reward\na,0.5\n", "line 2: (csv): expected 3 fields, got 2"],
    ["csv", "action,propensity,reward\na,0.5,yes\n", 'line 2: reward: not a number: "yes"'],
    ["csv", 'action,propensity,reward,context_json\na,0.5,1,"{bad"\n', /^line 2: context_json: /],
  ])("%s error: %s", (kind, text, message) => {
    expect(() => (kind === "csv" ? parseCsv(text) : parseJsonl(text))).toThrow(message);
  });
});
