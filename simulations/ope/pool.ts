/**
 * `evaluateLogs` on a worker thread, for callers that must not block their event loop (the HTTP service).
 * One lazily created single-thread pool per process; errors come back as errors with their class name
 * (`PolicySpecError`, `EvaluationError`, `StrategyParamError`…) and message, so callers can tell a bad
 * policy from a crash.
 */
import { Piscina } from "piscina";
import type { EvaluateOptions, EvaluationResult } from "./evaluate.ts";
import type { LogRow } from "./logs.ts";
import type { PolicySpec } from "./policy.ts";
import type { WorkerAnswer } from "./worker.ts";

let pool: Piscina | null = null;

function workerExecArgv(): string[] {
  const argv = process.execArgv;
  return argv.some((a) => a.includes("tsx")) ? argv : [...argv, "--import", "tsx"];
}

export async function evaluateLogsInWorker(
  rows: LogRow[],
  policy: PolicySpec,
  opts: Omit<EvaluateOptions, "resolve"> = {},
): Promise<EvaluationResult> {
  pool ??= new Piscina({
    filename: new URL("./worker.ts", import.meta.url).href,
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: 30_000,
    execArgv: workerExecArgv(),
  });
  const answer = (await pool.run({ rows, policy, opts })) as WorkerAnswer;
  if (answer.ok) return answer.result;
  const err = new Error(answer.message);
  err.name = answer.name;
  throw err;
}

export async function closeEvaluationPool(): Promise<void> {
  const p = pool;
  pool = null;
  await p?.destroy();
}
