/**
 * Bearer-key authentication. Workspace API keys resolve to a workspace id through an in-memory cache
 * (the hot path reads no database); the admin key (ADBANDIT_ADMIN_KEY) creates workspaces and is
 * compared in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AppDeps, AppEnv } from "./env.ts";
import { ApiError } from "./errors.ts";

export function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : null;
}

export function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

export function isAdminKey(given: string | null, adminKey: string): boolean {
  if (!given) return false;
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(adminKey).digest();
  return timingSafeEqual(a, b);
}

/** Sets `workspaceId` from a workspace API key, or answers 401. */
export function requireWorkspace(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = bearer(c.req.header("authorization"));
    if (!key) throw new ApiError("unauthorized", "missing or malformed Authorization: Bearer <apiKey>");
    const ws = await deps.workspaceForKey(key);
    if (!ws) throw new ApiError("unauthorized", "unknown API key");
    c.set("workspaceId", ws);
    await next();
  };
}

/** Answers 401 unless the request carries the admin key. */
export function requireAdmin(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!isAdminKey(bearer(c.req.header("authorization")), deps.adminKey))
      throw new ApiError("unauthorized", "admin key required");
    await next();
  };
}
