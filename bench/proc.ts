/**
 * Readings of a child process from Linux /proc, for the benchmarks (NaN elsewhere): its CPU time, so a
 * benchmark can report the service's own CPU per request without the noise of a shared machine's load.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type postgres from "postgres";

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
 * User + system CPU seconds so far of the PostgreSQL backends serving the database `sql` is connected to
 * (pg_stat_activity, then /proc), except the one asking: on a shared server, other databases' work is not
 * counted. A backend that exits in between is missed; the benchmarks' pooled connections stay up.
 */
export async function databaseCpuSeconds(sql: postgres.Sql): Promise<number> {
  const pids = await sql<{ pid: number }[]>`select pid from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid()`;
  let total = 0;
  for (const { pid } of pids) {
    const s = cpuSeconds(pid);
    if (Number.isFinite(s)) total += s;
  }
  return total;
}
