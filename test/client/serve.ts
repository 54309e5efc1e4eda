/**
 * The service listening on a real port, in this process: the test harness (buildService on PGlite, or on
 * PostgreSQL with DATABASE_URL) served by @hono/node-server, so the client and the CLI talk HTTP to it.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { AdbanditClient, type ClientOptions } from "../../src/client/index.ts";
import { ADMIN_KEY, type HarnessOptions, startHarness, type Harness } from "../helpers/service.ts";

export interface Served {
  h: Harness;
  url: string;
  /** A client on this service with the given key (default: a fresh workspace's admin key via workspace()). */
  client(apiKey: string, options?: Partial<ClientOptions>): AdbanditClient;
  /** Creates a workspace through the client and answers its key. */
  workspace(name?: string): Promise<{ id: string; apiKey: string }>;
  close(): Promise<void>;
}

export async function startServed(opts: HarnessOptions = {}): Promise<Served> {
  const h = await startHarness(opts);
  const server = serve({
    // Through h.service each time, so a restarted harness is served too; env carries the Node request.
    fetch: (req: Request, env: unknown) => (h.service.app.fetch as (r: Request, e: unknown) => Response)(req, env),
    port: 0,
    hostname: "127.0.0.1",
  });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once("listening", () => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = (apiKey: string, options: Partial<ClientOptions> = {}) =>
    new AdbanditClient({ baseUrl: url, apiKey, ...options });
  return {
    h,
    url,
    client,
    async workspace(name = "ws") {
      const ws = await client(ADMIN_KEY).workspaces.create(name);
      return { id: ws.id, apiKey: ws.apiKey };
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await h.close();
    },
  };
}
