/**
 * Builds the whole HTTP app (no listening): middleware (503 while the database is down, auth, body
 * limit, metrics), one route module per resource, the OpenAPI document at /openapi.json and the docs
 * page at /docs, and one error format for everything.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { bearer, isAdminKey, requireRole, requireWorkspace } from "./auth.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { ApiError, errorBody, invalid, onError } from "./errors.ts";
import { parseBody } from "./input.ts";
import { errors } from "./schemas.ts";
import { BodyBudget, bodyLimitFor, RateLimiter } from "./limits.ts";
import { register as anomalies } from "./routes/anomalies.ts";
import { register as arms } from "./routes/arms.ts";
import { register as blocklist } from "./routes/blocklist.ts";
import { register as campaigns } from "./routes/campaigns.ts";
import { register as decisionImport } from "./routes/decision-import.ts";
import { register as decisions } from "./routes/decisions.ts";
import { register as evaluations } from "./routes/evaluations.ts";
import { register as events } from "./routes/events.ts";
import { register as health } from "./routes/health.ts";
import { register as keys } from "./routes/keys.ts";
import { register as privacy } from "./routes/privacy.ts";
import { register as reports } from "./routes/reports.ts";
import { register as simulations } from "./routes/simulations.ts";
import { register as workspaces } from "./routes/workspaces.ts";
import { registerWeb } from "../web/index.ts";

const tooLarge = (limit: number) => new ApiError("payload_too_large", `request body larger than ${limit} bytes`);

/**
 * Under @hono/node-server, reads a JSON body straight from the Node request into hono's body cache,
 * enforcing the size limit as it streams. Reading it through `c.req.json()` would first build a full
 * WHATWG Request (undici) — a sizeable share of the CPU of a decision. Elsewhere (tests calling
 * `app.request`), the standard path with hono's `bodyLimit` applies.
 */
function readNodeBody(incoming: IncomingMessage, limit: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        incoming.removeAllListeners("data");
        incoming.resume();
        reject(tooLarge(limit));
      } else chunks.push(chunk);
    });
    incoming.once("end", () =>
      resolve(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8")),
    );
    incoming.once("error", reject);
  });
}

/** hono's bodyLimit, one per distinct limit. */
const standardLimits = new Map<number, MiddlewareHandler<AppEnv>>();
function standardLimit(limit: number): MiddlewareHandler<AppEnv> {
  let m = standardLimits.get(limit);
  if (!m) {
    m = bodyLimit({
      maxSize: limit,
      onError: () => {
        throw tooLarge(limit);
      },
    });
    standardLimits.set(limit, m);
  }
  return m;
}

/** Bytes of request bodies read or handled at once, by default (ADBANDIT_BODY_BUDGET_MB). */
export const DEFAULT_BODY_BUDGET_BYTES = 32 * 1024 * 1024;

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

function setParsed(c: Context<AppEnv>, value: unknown): void {
  Object.defineProperty(c.req, "json", { value: () => Promise.resolve(value) });
}

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
  // after every module (including those wired in later) has registered. One alternation per method (a
  // single regex test instead of one per route), and the answer is kept per request: three middlewares
  // ask it on every request of the hot path.
  let known: Map<string, RegExp> | null = null;
  const matcher = (method: string): RegExp => {
    known ??= (() => {
      const by = new Map<string, string[]>();
      for (const r of app.routes) {
        if (r.path.includes("*")) continue;
        const re = r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+");
        const l = by.get(r.method);
        if (l) l.push(re);
        else by.set(r.method, [re]);
      }
      const all = by.get("ALL") ?? [];
      const out = new Map<string, RegExp>();
      for (const [m, l] of by) out.set(m, new RegExp(`^(?:${[...l, ...(m === "ALL" ? [] : all)].join("|")})/?$`));
      return out;
    })();
    return known.get(method) ?? known.get("ALL") ?? /(?!)/;
  };
  const routeKnown = new WeakMap<object, boolean>();
  const isRoute = (c: Context<AppEnv>): boolean => {
    let k = routeKnown.get(c.req.raw);
    if (k === undefined) routeKnown.set(c.req.raw, (k = matcher(c.req.method).test(c.req.path)));
    return k;
  };
  // Authentication before any body is read: the admin key for POST /v1/workspaces, a workspace key
  // everywhere else. Only known routes answer 401; an unknown path falls through to the 404.
  app.use("/v1/*", async (c, next) => {
    if (c.req.method === "POST" && /^\/v1\/workspaces\/?$/.test(c.req.path)) {
      if (!isAdminKey(bearer(c.req.header("authorization")), deps.adminKey))
        throw new ApiError("unauthorized", "admin key required");
      return next();
    }
    try {
      await auth(c, async () => {});
    } catch (err) {
      if (isRoute(c)) throw err;
    }
    return next();
  });
  app.use("/v1/*", (c, next) => (isRoute(c) ? requireRole(c, next) : next()));
  // Fair use: a token bucket per workspace (after auth, before the body is read).
  const limiter = deps.rateLimit ? new RateLimiter(deps.rateLimit) : null;
  if (limiter)
    app.use("/v1/*", async (c, next) => {
      const ws = c.get("workspaceId");
      if (ws) {
        const wait = limiter.take(ws);
        if (wait > 0)
          throw new ApiError(
            "rate_limited",
            `rate limit of ${limiter.limit.perSecond} requests/s (burst ${limiter.limit.burst}) exceeded for this workspace`,
            undefined,
            Math.max(1, Math.ceil(wait)),
          );
      }
      return next();
    });
  // The body: a size limit per route (limits.ts), read only once its bytes fit in the process-wide
  // budget; then parsed once and checked (input.ts: storable text, depth, finite numbers) before any
  // route sees it — the route's validator reads the parsed value instead of parsing again.
  const budget = new BodyBudget(deps.bodyBudgetBytes ?? DEFAULT_BODY_BUDGET_BYTES);
  app.use("/v1/*", async (c, next) => {
    const m = c.req.method;
    if ((m !== "POST" && m !== "PATCH" && m !== "PUT") || !isRoute(c)) return next();
    const limit = bodyLimitFor(m, c.req.path);
    const declared = Number(c.req.header("content-length") ?? Number.NaN);
    if (declared > limit) throw tooLarge(limit);
    const share = declared >= 0 ? declared : limit;
    await budget.acquire(share);
    try {
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      const json = JSON_TYPE.test(c.req.header("content-type") ?? "");
      if (incoming) {
        const text = await readNodeBody(incoming, limit);
        (c.req as unknown as { bodyCache: Record<string, Promise<unknown>> }).bodyCache.text = Promise.resolve(text);
        if (json && text.length > 0) setParsed(c, parseBody(text));
        return await next();
      }
      return await standardLimit(limit)(c, async () => {
        const text = json ? await c.req.text() : "";
        if (text.length > 0) setParsed(c, parseBody(text));
        await next();
      });
    } finally {
      budget.release(share);
    }
  });

  health(app, deps);
  workspaces(app, deps);
  keys(app, deps);
  campaigns(app, deps);
  arms(app, deps);
  decisions(app, deps);
  decisionImport(app, deps);
  events(app, deps);
  reports(app, deps);
  anomalies(app, deps);
  blocklist(app, deps);
  simulations(app, deps);
  evaluations(app, deps);
  privacy(app, deps);

  // Answers every /v1 route can give whether or not its module lists them: 403 (the key's role), 429
  // (the workspace's rate limit) and 503 (database unreachable).
  for (const d of app.openAPIRegistry.definitions)
    if (d.type === "route" && d.route.path.startsWith("/v1/")) {
      const r = d.route.responses as Record<string, unknown>;
      if (d.route.path !== "/v1/workspaces") {
        r[403] ??= errors[403];
        r[429] ??= errors[429];
      }
      r[503] ??= errors[503];
    }
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
  // The web pages (/docs, the dashboard at /, their assets): src/web.
  registerWeb(app, deps);

  app.notFound((c) => c.json(errorBody("not_found", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    const res = onError(err, c);
    if (res.status === 503) deps.suspectDatabase?.();
    return res;
  });
  return app;
}
