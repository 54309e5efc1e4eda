/**
 * A private PostgreSQL instance for tests and benchmarks that restart or stop the server: initdb in a
 * temporary folder, its own port, trust auth on 127.0.0.1, run as the `postgres` user (through
 * `runuser -u postgres --` when we are root). Restarting or stopping it disturbs nothing else.
 * `findPgBin()` is null when the binaries are absent: callers skip with a clear message.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./process.ts";

const run = promisify(execFile);

/** The folder holding initdb and pg_ctl (PATH first, then /usr/lib/postgresql/<newest>/bin), or null. */
export function findPgBin(): string | null {
  for (const dir of (process.env.PATH ?? "").split(":"))
    if (dir && existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, "bin") : null;
}

/** Why a private instance cannot be started here, or null if it can. */
export function privatePgUnavailable(): string | null {
  if (!findPgBin()) return "PostgreSQL binaries (initdb, pg_ctl) not found";
  const user = userInfo().username;
  if (user !== "root" && user !== "postgres") return `must run as root (runuser) or postgres, not ${user}`;
  if (
    user === "root" &&
    !existsSync("/usr/sbin/runuser") &&
    !existsSync("/sbin/runuser") &&
    !existsSync("/usr/bin/runuser")
  )
    return "runuser not found";
  return null;
}

export interface PrivatePg {
  port: number;
  url: string;
  start(): Promise<void>;
  /** Fast shutdown: open connections are terminated. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivatePg(): Promise<PrivatePg> {
  const bin = findPgBin();
  if (!bin) throw new Error("PostgreSQL binaries not found");
  const asPostgres = userInfo().username === "root";
  const pg = (tool: string, args: string[]) =>
    asPostgres
      ? run("runuser", ["-u", "postgres", "--", join(bin, tool), ...args], { timeout: 120_000 })
      : run(join(bin, tool), args, { timeout: 120_000 });
  const dir = await mkdtemp(join(tmpdir(), "adbandit-pg-"));
  await chmod(dir, 0o777);
  const data = join(dir, "data");
  const port = await freePort();
  await pg("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const ctl = (args: string[]) => pg("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-t", "60", ...args]);
  const self: PrivatePg = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: async () => {
      await ctl(["-o", opts, "start"]);
    },
    stop: async () => {
      await ctl(["-m", "fast", "stop"]);
    },
    restart: async () => {
      await ctl(["-m", "fast", "-o", opts, "restart"]);
    },
    destroy: async () => {
      await ctl(["-m", "immediate", "stop"]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
