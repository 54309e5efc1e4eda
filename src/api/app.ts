/**
 * Builds the whole HTTP app (no listening): middleware (503 while the database is down, auth, body
 * limit, metrics), one route module per resource, the OpenAPI document at /openapi.json and the docs
 * page at /docs, and one error format for everything.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import type { IncomingMessage } from "node:http";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requireWorkspace } from "./auth.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { ApiError, errorBody, invalid, onError } from "./errors.ts";
import { parseBody } from "./input.ts";
import { register as anomalies } from "./routes/anomalies.ts";
import { register as arms } from "./routes/arms.ts";
import { register as blocklist } from "./routes/blocklist.ts";
import { register as campaigns } from "./routes/campaigns.ts";
import { register as decisions } from "./routes/decisions.ts";
import { register as evaluations } from "./routes/evaluations.ts";
import { register as events } from "./routes/events.ts";
import { register as health } from "./routes/health.ts";
import { register as reports } from "./routes/reports.ts";
import { register as simulations } from "./routes/simulations.ts";
import { register as workspaces } from "./routes/workspaces.ts";

/** Largest accepted body: 1000 events or decision requests with generous contexts fit well inside. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Under @hono/node-server, reads a JSON body straight from the Node request into hono's body cache,
 * enforcing the size limit as it streams. Reading it through `c.req.json()` would first build a full
 * WHATWG Request (undici) — a sizeable share of the CPU of a decision. Elsewhere (tests calling
 * `app.request`), the standard path with `bodyLimit` applies.
 */
const nodeBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const m = c.req.method;
  if (!incoming || (m !== "POST" && m !== "PATCH" && m !== "PUT")) return next();
  const declared = Number(incoming.headers["content-length"] ?? NaN);
  if (declared > MAX_BODY_BYTES)
    throw new ApiError("payload_too_large", `request body larger than ${MAX_BODY_BYTES} bytes`);
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        incoming.removeAllListeners("data");
        incoming.resume();
        reject(new ApiError("payload_too_large", `request body larger than ${MAX_BODY_BYTES} bytes`));
      } else chunks.push(chunk);
    });
    incoming.once("end", () =>
      resolve(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8")),
    );
    incoming.once("error", reject);
  });
  (c.req as unknown as { bodyCache: Record<string, Promise<unknown>> }).bodyCache.text = Promise.resolve(text);
  return next();
};

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const e = invalid(result.error.issues);
        return c.json(errorBody(e.code, e.message, e.details), 400);
      }
    },
  });

  app.use("*", async (c, next) => {
    c.set("logger", deps.logger);
    const t0 = performance.now();
    await next();
    deps.metrics.httpDuration.observe(
      { method: c.req.method, route: c.req.routePath, status: String(c.res.status) },
      (performance.now() - t0) / 1000,
    );
  });

  app.use("/v1/*", async (_c, next) => {
    if (!deps.ready()) throw new ApiError("unavailable", "database unavailable");
    await next();
  });
  const auth = requireWorkspace(deps);
  // Unknown paths skip auth so that they answer 404, not 401; the route table is read on first use,
  // after every module (including those wired in later) has registered.
  let known: { method: string; re: RegExp }[] | null = null;
  const isRoute = (method: string, path: string) => {
    known ??= app.routes
      .filter((r) => !r.path.includes("*"))
      .map((r) => ({
        method: r.method,
        re: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+")}/?$`),
      }));
    return known.some((r) => (r.method === method || r.method === "ALL") && r.re.test(path));
  };
  app.use("/v1/*", async (c, next) => {
    if (c.req.method === "POST" && c.req.path === "/v1/workspaces") return next();
    try {
      await auth(c, async () => {});
    } catch (err) {
      // Only known routes answer 401; an unknown path falls through to the 404.
      if (isRoute(c.req.method, c.req.path)) throw err;
    }
    return next();
  });
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError("payload_too_large", `request body larger than ${MAX_BODY_BYTES} bytes`);
    },
  });
  app.use("/v1/*", (c, next) =>
    (c.env as { incoming?: unknown } | undefined)?.incoming ? nodeBody(c, next) : limit(c, next),
  );
  // Every JSON body parsed once and checked (input.ts: text storable, depth, finite numbers) before any
  // route sees it; the route's validator then reads the parsed value instead of parsing again.
  app.use("/v1/*", async (c, next) => {
    const m = c.req.method;
    if ((m !== "POST" && m !== "PATCH" && m !== "PUT") || !JSON_TYPE.test(c.req.header("content-type") ?? ""))
      return next();
    const text = await c.req.text();
    if (text.length === 0) return next();
    const value = parseBody(text);
    Object.defineProperty(c.req, "json", { value: () => Promise.resolve(value) });
    return next();
  });

  health(app, deps);
  workspaces(app, deps);
  campaigns(app, deps);
  arms(app, deps);
  decisions(app, deps);
  events(app, deps);
  reports(app, deps);
  anomalies(app, deps);
  blocklist(app, deps);
  simulations(app, deps);
  evaluations(app, deps);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "Workspace API key (admin key for POST /v1/workspaces)",
  });
  app.doc("/openapi.json", {
    openapi: "3.0.3",
    info: {
      title: "adbandit decision service",
      version: "1.0.0",
      description: "Campaigns, decisions and feedback; learns continuously.",
    },
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));

  app.notFound((c) => c.json(errorBody("not_found", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    const res = onError(err, c);
    if (res.status === 503) deps.suspectDatabase?.();
    return res;
  });
  return app;
}
