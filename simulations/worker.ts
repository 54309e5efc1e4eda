/**
 * Piscina worker: runs one repetition of a scenario (already validated by the caller) with the strategy
 * library's registry and returns its figures; typed arrays travel back by structured clone.
 */
import { libraryResolver } from "./resolve.ts";
import { parseScenario } from "./scenario.ts";
import { runRepetition, type RepResult } from "./simulate.ts";

export default async function run(task: { scenario: unknown; rep: number }): Promise<RepResult> {
  const resolve = await libraryResolver();
  return runRepetition(parseScenario(task.scenario), task.rep, resolve);
}
