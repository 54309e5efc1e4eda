/**
 * Worker threads for off-policy evaluation.
 * - `evaluateLogsInWorker`: `evaluateLogs` on a worker thread, for callers that must not block their event loop
 *   (the HTTP service). One lazily created single-thread pool per process; errors come back as errors with their
 *   class name (`PolicySpecError`, `EvaluationError`, `StrategyParamError`…) and message, so callers can tell a
 *   bad policy from a crash.
 * - `evaluateLogsParallel`: the CLI's path for large logs — the replays run here, then the bootstrap resamples are
 *   split over `workers` threads reading the sums from shared memory. The multiplicities are drawn here in order,
 *   so the result is identical to `evaluateLogs` whatever the number of workers.
 */
import { Piscina } from "piscina";
import {
  type BootInput,
  ESTIMATOR_COUNT,
  type EvaluateOptions,
  type EvaluationResult,
  evaluateLogs,
  finish,
  plan,
} from "./evaluate.ts";
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

function shared<T extends Float64Array | Int32Array>(a: T): T {
  const buf = new SharedArrayBuffer(a.byteLength);
  const out = (a instanceof Float64Array ? new Float64Array(buf) : new Int32Array(buf)) as T;
  out.set(a);
  return out;
}

export async function evaluateLogsParallel(
  rows: readonly LogRow[],
  policy: PolicySpec,
  opts: EvaluateOptions & { workers?: number } = {},
): Promise<EvaluationResult> {
  const workers = opts.workers ?? 2;
  if (workers <= 0) return evaluateLogs(rows, policy, opts);
  const p = plan(rows, policy, opts);
  const b = p.boot;
  const bi: BootInput = {
    ...b,
    fold: shared(b.fold),
    gram: shared(b.gram),
    mom: shared(b.mom),
    n: shared(b.n),
    r: shared(b.r),
    replays: b.replays.map((r) => ({
      T: shared(r.T),
      U: shared(r.U),
      Usw: shared(r.Usw),
      Uos: shared(r.Uos),
      sc: shared(r.sc),
    })),
  };
  const mults = shared(p.mults);
  const boot = new Piscina({
    filename: new URL("./boot-worker.ts", import.meta.url).href,
    minThreads: workers,
    maxThreads: workers,
    execArgv: workerExecArgv(),
  });
  const W = ESTIMATOR_COUNT + 1;
  const draws = new Float64Array(p.B * W);
  const chunk = Math.max(1, Math.ceil(p.B / (workers * 8)));
  let done = p.R;
  try {
    const tasks: Promise<void>[] = [];
    for (let from = 0; from < p.B; from += chunk) {
      const to = Math.min(p.B, from + chunk);
      tasks.push(
        (boot.run({ bi, mults, from, to }) as Promise<Float64Array>).then((out) => {
          draws.set(out, from * W);
          done += to - from;
          opts.onProgress?.(done, p.R + p.B);
        }),
      );
    }
    await Promise.all(tasks);
  } finally {
    await boot.destroy();
  }
  return finish(p, draws);
}
