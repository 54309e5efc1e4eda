/** Runs the CLI in this process with captured output. */
import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { type CliIo, run } from "../../src/cli/program.ts";

export interface CliResult {
  code: number;
  out: string;
  err: string;
  /** What `export` streamed to stdout. */
  stream: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed --json output, whatever the command printed
  json(): any;
}

export async function cli(argv: string[], env: Record<string, string | undefined>, extra: Partial<CliIo> = {}) {
  let out = "";
  let err = "";
  let stream = "";
  const stdout = new PassThrough();
  stdout.on("data", (b: Buffer) => (stream += b.toString()));
  const code = await run(argv, {
    out: (s) => (out += s),
    err: (s) => (err += s),
    env,
    stdout,
    childStdio: "pipe",
    transport: { sleep: async () => {} },
    ...extra,
  });
  return { code, out, err, stream, json: () => JSON.parse(out) } satisfies CliResult;
}

/** Runs a process asynchronously (the service under test answers from this very process). */
export function exec(cmd: string, args: string[], cwd: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (err += b));
    child.once("close", (code) => resolve({ code, out, err }));
  });
}
