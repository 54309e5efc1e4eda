/** Piscina worker: runs `evaluateLogs` off the caller's event loop (the service keeps answering meanwhile). */
import { libraryResolve } from "../resolve.ts";
import { evaluateLogs, type EvaluateOptions, type EvaluationResult } from "./evaluate.ts";
import type { LogRow } from "./logs.ts";
import type { PolicySpec } from "./policy.ts";

export type WorkerAnswer = { ok: true; result: EvaluationResult } | { ok: false; name: string; message: string };

/** Errors are returned, not thrown: structured clone would drop a custom error's class name. */
export default function run(task: {
  rows: LogRow[];
  policy: PolicySpec;
  opts: Omit<EvaluateOptions, "resolve">;
}): WorkerAnswer {
  try {
    return { ok: true, result: evaluateLogs(task.rows, task.policy, { ...task.opts, resolve: libraryResolve }) };
  } catch (e) {
    return {
      ok: false,
      name: e instanceof Error ? e.name : "Error",
      message: e instanceof Error ? e.message : String(e),
    };
  }
}
