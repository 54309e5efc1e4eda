/**
 * Readings of a child process from Linux /proc, for the benchmarks (NaN elsewhere): its CPU time, so a
 * benchmark can report the service's own CPU per request without the noise of a shared machine's load.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of a process so far. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the fields after the parenthesised command name start at field 3 (state); utime is 14, stime 15
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/**
 * User + system CPU seconds of every process named `comm` so far (for the database server: its
 * backends come and go, so a reading sums those alive; a backend that exits in between is missed, the
 * benchmarks' pooled connections stay up).
 */
export function cpuSecondsOfAll(comm: string): number {
  let total = 0;
  let dir: string[];
  try {
    dir = readdirSync("/proc");
  } catch {
    return Number.NaN;
  }
  for (const name of dir) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const open = stat.indexOf("(");
      const close = stat.lastIndexOf(")");
      if (stat.slice(open + 1, close) !== comm) continue;
      const f = stat.slice(close + 2).split(" ");
      total += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      // the process ended while the directory was read
    }
  }
  return total;
}
