/** Input validation of off-policy evaluation, as a table with the exact messages; action sets and availability. */
import { describe, expect, it } from "vitest";
import { type EvaluateOptions, evaluateLogs } from "../../simulations/ope/evaluate.ts";
import { type LogRow, parseCsv, parseJsonl } from "../../simulations/ope/logs.ts";

const J = (...lines: object[]) => parseJsonl(lines.map((l) => JSON.stringify(l)).join("\n"));
const row = (o: Partial<LogRow> & Record<string, unknown> = {}) => ({
  action: "a",
  propensity: 0.5,
  reward: 1,
  context: {},
  ...o,
});
const MISSING =
  "propensity: missing (the logging policy's probability of this action is needed; estimate it from the action's share of the logs explicitly with --estimate-propensity)";

describe("validation table", () => {
  it.each<[string, () => LogRow[], EvaluateOptions, string]>([
    [
      "a click reward of 2",
      () => J(row(), row({ reward: 2 })),
      { objective: "clicks" },
      "line 2: reward: must be in [0, 1] for objective clicks, got 2",
    ],
    [
      "a conversion reward of −1 in CSV",
      () => parseCsv("action,propensity,reward\na,0.5,1\nb,0.5,-1\n"),
      { objective: "conversions" },
      "line 3: reward: must be in [0, 1] for objective conversions, got -1",
    ],
    [
      "negative revenue",
      () => J(row({ reward: -5 })),
      { objective: "revenue" },
      "line 1: reward: must be ≥ 0 for objective revenue, got -5 (allow negative rewards explicitly to accept it)",
    ],
    ["a JSONL row without a propensity", () => J(row(), row({ propensity: undefined })), {}, `line 2: ${MISSING}`],
    ["a JSONL row with a null propensity", () => J(row({ propensity: null })), {}, `line 1: ${MISSING}`],
    [
      "a CSV row with an empty propensity",
      () => parseCsv("action,propensity,reward\na,0.5,1\nb,,0\n"),
      {},
      `line 3: ${MISSING}`,
    ],
    [
      "a logged action outside the action set",
      () => J(row(), row({ action: "c" })),
      { actions: ["a", "b"] },
      'line 2: action: "c" is not in the action set (a, b)',
    ],
    [
      "an available action outside the action set",
      () => J(row({ available: ["a", "z"] })),
      { actions: ["a", "b"] },
      'line 1: available: "z" is not in the action set (a, b)',
    ],
    [
      "rows from the service (no line) name the row and decision",
      () => [row({ decisionId: "d-1" }), row({ decisionId: "d-2", reward: 3 })] as LogRow[],
      {},
      "row 2 (decision d-2): reward: must be in [0, 1] for objective conversions, got 3",
    ],
    ["a clip of 0", () => J(row()), { clip: 0 }, "clip: must be a positive number, got 0"],
    ["no rows", () => [], {}, "no logged decisions to evaluate"],
    ["only zero propensities", () => J(row({ propensity: 0 })), {}, "no row has a usable propensity"],
  ])("%s", (_name, rows, opts, message) => {
    expect(() => evaluateLogs(rows(), "uniform", { bootstrap: 5, ...opts })).toThrow(message);
    try {
      evaluateLogs(rows(), "uniform", { bootstrap: 5, ...opts });
    } catch (e) {
      expect((e as Error).message).toBe(message);
    }
  });

  it.each([
    [
      "available without the logged action",
      '{"action":"a","propensity":0.5,"reward":1,"available":["b"]}',
      'line 1: available: does not include the logged action "a"',
    ],
    [
      "available not a list",
      '{"action":"a","propensity":0.5,"reward":1,"available":"a"}',
      "line 1: available: must be a list of action keys",
    ],
    [
      "a fractional position",
      '{"action":"a","propensity":0.5,"reward":1,"position":1.5}',
      "line 1: position: must be an integer, got 1.5",
    ],
  ])("parser: %s", (_name, text, message) => {
    expect(() => parseJsonl(text)).toThrow(message);
  });

  it("accepts what the objective allows: [0, 1] for clicks, negative profit, negative revenue when allowed", () => {
    expect(() =>
      evaluateLogs(J(row({ reward: 0.25 }), row({ reward: 0 })), "uniform", { objective: "clicks", bootstrap: 5 }),
    ).not.toThrow();
    expect(() => evaluateLogs(J(row({ reward: -3 })), "uniform", { objective: "profit", bootstrap: 5 })).not.toThrow();
    expect(() =>
      evaluateLogs(J(row({ reward: -3 })), "uniform", {
        objective: "revenue",
        allowNegativeRewards: true,
        bootstrap: 5,
      }),
    ).not.toThrow();
  });

  it("the same propensity rule for CSV and JSONL: estimated only when asked, and said", () => {
    const csv = parseCsv("action,propensity,reward\na,0.5,1\nb,,0\na,0.5,0\nb,0.5,1\n");
    const jsonl = J(
      row(),
      row({ action: "b", propensity: null, reward: 0 }),
      row({ reward: 0 }),
      row({ action: "b", reward: 1 }),
    );
    for (const rows of [csv, jsonl]) {
      const r = evaluateLogs(rows, "uniform", { bootstrap: 5, estimatePropensity: true });
      expect(r.propensity.missing).toBe(1);
      expect(r.warnings[0]).toBe(
        "1 of 4 rows have no propensity: estimated by the action's share of the logs (--estimate-propensity), which is only right for a context-free logging policy; IPS, SNIPS and the DR family may be biased",
      );
    }
  });

  it("warns whenever an interval has zero width", () => {
    const rows = J(...Array.from({ length: 40 }, (_, i) => row({ action: i % 2 ? "a" : "b", reward: 0 })));
    const r = evaluateLogs(rows, "uniform", { bootstrap: 20 });
    expect(r.warnings).toContain(
      "ips: the 95% interval has zero width ([0, 0]): every resample gave the same value, which says nothing about its uncertainty (too few rows, or rewards that never vary where it looks)",
    );
  });
});

describe("action sets", () => {
  it("a never-logged action given in --actions keeps K and is named", () => {
    const rows = J(
      ...Array.from({ length: 60 }, (_, i) => row({ action: i % 2 ? "a" : "b", reward: i % 3 === 0 ? 1 : 0 })),
    );
    const mean = rows.reduce((s, x) => s + x.reward, 0) / rows.length;
    const r = evaluateLogs(rows, "uniform", { bootstrap: 5, actions: ["a", "b", "c"] });
    expect(r.actions).toEqual(["a", "b", "c"]);
    // π = 1/3 on logs with p = 1/2: every weight is 2/3.
    expect(r.weights.max).toBeCloseTo(2 / 3, 12);
    expect(r.estimates.find((e) => e.estimator === "ips")!.value).toBeCloseTo((2 / 3) * mean, 12);
    expect(r.warnings).toContain(
      "1 of 3 actions were never logged (c): what the policy earns on them comes from the reward model only (DM and the DR family); IPS, SNIPS and replay count it as 0",
    );
  });

  it("a per-row available list restricts the policy to it (uniform over the available ones)", () => {
    const rows = J(
      ...Array.from({ length: 60 }, (_, i) =>
        i % 2
          ? row({ action: i % 4 === 1 ? "a" : "b", propensity: 0.5, available: ["a", "b"] })
          : row({ action: ["a", "b", "c"][i % 3], propensity: 1 / 3, reward: 0 }),
      ),
    );
    const r = evaluateLogs(rows, "uniform", { bootstrap: 5 });
    expect(r.actions).toEqual(["a", "b", "c"]);
    expect(r.weights).toMatchObject({ mean: 1, max: 1 });
    expect(r.estimates.find((e) => e.estimator === "ips")!.value).toBeCloseTo(0.5, 12);
  });

  it("the logged policy keeps its logged propensity when rows restrict the actions", () => {
    const rows = J(
      ...Array.from({ length: 30 }, (_, i) =>
        row({ action: i % 2 ? "a" : "b", propensity: 0.6, reward: i % 3 ? 0 : 1, available: ["a", "b"] }),
      ),
      row({ action: "c", propensity: 0.2, reward: 1 }),
    );
    const r = evaluateLogs(rows, "logged", { bootstrap: 5 });
    expect(r.weights).toMatchObject({ mean: 1, max: 1 });
    expect(r.estimates.find((e) => e.estimator === "ips")!.value).toBe(r.logged.value);
  });
});
