/**
 * Real service processes for the two-process test and the HTTP benchmark: `node --import tsx src/server.ts`
 * on a free port, ready once /healthz answers 200; stopped with a signal, reporting the exit code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface ServerProcess {
  port: number;
  url: string;
  child: ChildProcess;
  /** Everything the process wrote (JSON log lines), for failure messages. */
  output(): string;
  /** Sends the signal and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** A port free at the time of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface SpawnOptions {
  /** Entry file relative to the repository root. */
  entry?: string;
  /** Extra command-line arguments after the entry. */
  args?: string[];
  env?: Record<string, string | undefined>;
  port?: number;
  /** Path polled until it answers 200. */
  readyPath?: string;
  readyTimeoutMs?: number;
}

export async function spawnServer(opts: SpawnOptions = {}): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env, PORT: String(port) })) {
    if (v !== undefined) env[k] = v;
  }
  // SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the service under a benchmark.
  const nodeArgs = process.env.SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(
    process.execPath,
    [...nodeArgs, "--import", "tsx", opts.entry ?? "src/server.ts", ...(opts.args ?? [])],
    {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const keep = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => {
    exitCode = c;
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (exitCode !== undefined)
      throw new Error(`server exited with ${exitCode} before it was ready:\n${out.slice(-4000)}`);
    try {
      const r = await fetch(`${url}${opts.readyPath ?? "/healthz"}`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server not ready on ${url} in time:\n${out.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }

  return {
    port,
    url,
    child,
    output: () => out,
    async stop(signal = "SIGTERM", timeoutMs = 20_000) {
      if (exitCode !== undefined) return exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** JSON over fetch with a bearer key; answers {status, body}. */
export async function http(
  base: string,
  method: string,
  path: string,
  key?: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: a response body, whatever the server sent
): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: r.status, body: parsed, text };
}
