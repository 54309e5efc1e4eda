/**
 * A scripted HTTP server for what the real service cannot be made to do on demand (503s, 429s, lost
 * connections, slow answers) and for contract shapes not yet on main (event conflicts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AdbanditError } from "../../src/client/index.ts";

export interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** One step: an answer (status, body, headers), "drop" (read the request, then destroy the socket), or "hang". */
export type Step = { status: number; body?: unknown; headers?: Record<string, string> } | "drop" | "hang";

export interface Fake {
  url: string;
  seen: Seen[];
  /** Queues answers for `METHOD /path`; when the queue is empty, `fallback` answers. */
  script(route: string, ...steps: Step[]): void;
  close(): Promise<void>;
}

export async function startFake(fallback: (s: Seen) => Step = () => ({ status: 404, body: notFound })): Promise<Fake> {
  const queues = new Map<string, Step[]>();
  const seen: Seen[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const s: Seen = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body };
      seen.push(s);
      const route = `${s.method} ${s.path.split("?")[0]}`;
      const step = queues.get(route)?.shift() ?? fallback(s);
      if (step === "drop") return req.socket.destroy();
      if (step === "hang") return void hanging.push(res);
      res.writeHead(step.status, { "content-type": "application/json", ...step.headers });
      res.end(step.body === undefined ? "" : JSON.stringify(step.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    script(route, ...steps) {
      queues.set(route, [...(queues.get(route) ?? []), ...steps]);
    },
    close: () =>
      new Promise((resolve) => {
        for (const r of hanging) r.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const notFound = { error: { code: "not_found", message: "no such route" } };
export const unavailable = (retryAfter?: string): Step => ({
  status: 503,
  body: { error: { code: "unavailable", message: "database unavailable" } },
  headers: retryAfter ? { "retry-after": retryAfter } : {},
});
export const rateLimited = (retryAfter: string): Step => ({
  status: 429,
  body: { error: { code: "rate_limited", message: "too many requests" } },
  headers: { "retry-after": retryAfter },
});

/** The AdbanditError a call failed with (fails the test if it succeeded or threw something else). */
export async function failure(p: Promise<unknown>): Promise<AdbanditError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AdbanditError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}
