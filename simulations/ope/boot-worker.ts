/** Piscina worker: a slice of an evaluation's bootstrap resamples (the inputs arrive in shared memory). */
import { type BootInput, runResamples } from "./evaluate.ts";

export default function run(task: { bi: BootInput; mults: Int32Array; from: number; to: number }): Float64Array {
  return runResamples(task.bi, task.mults, task.from, task.to);
}
