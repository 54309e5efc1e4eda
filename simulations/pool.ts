/**
 * The worker-thread pool (piscina). Workers load TypeScript through tsx: when this process was not started
 * by tsx (e.g. under vitest), the tsx loader is added to the workers' exec arguments.
 */
import { Piscina } from "piscina";
import type { Scenario } from "./scenario.ts";
import type { RepResult } from "./simulate.ts";

function workerExecArgv(): string[] {
  const argv = process.execArgv;
  return argv.some((a) => a.includes("tsx")) ? argv : [...argv, "--import", "tsx"];
}

export async function runOnPool(
  s: Scenario,
  workers: number,
  onResult: (r: RepResult) => void,
  signal?: AbortSignal,
): Promise<void> {
  const pool = new Piscina({
    filename: new URL("./worker.ts", import.meta.url).href,
    minThreads: workers,
    maxThreads: workers,
    execArgv: workerExecArgv(),
  });
  try {
    await Promise.all(
      Array.from({ length: s.repetitions }, (_, rep) =>
        (pool.run({ scenario: s, rep }, signal ? { signal } : {}) as Promise<RepResult>).then(onResult),
      ),
    );
  } finally {
    await pool.destroy();
  }
}
