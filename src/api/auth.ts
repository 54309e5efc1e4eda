/**
 * Bearer-key authentication. Workspace API keys resolve to a workspace id through an in-memory cache
 * (the hot path reads no database); the admin key (ADBANDIT_ADMIN_KEY) creates workspaces and is
 * compared in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { KeyRole } from "../store/schema.ts";
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

/** Sets `workspaceId` and `role` from a workspace API key, or answers 401. */
export function requireWorkspace(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = bearer(c.req.header("authorization"));
    if (!key) throw new ApiError("unauthorized", "missing or malformed Authorization: Bearer <apiKey>");
    const r = await deps.resolveKey(key);
    if (!r) throw new ApiError("unauthorized", "unknown or revoked API key");
    c.set("workspaceId", r.workspaceId);
    c.set("role", r.role);
    c.set("keyId", r.keyId);
    await next();
  };
}

const RANK: Record<KeyRole, number> = { reader: 0, writer: 1, admin: 2 };

/**
 * The role a request needs, from its method and path alone (so routes need no change): GET and HEAD
 * need reader — except the key list, admin; decisions and events need writer; every other write
 * (campaigns, arms, anomalies, blocklist, keys, simulations, evaluations, and the import of historical
 * decisions) needs admin.
 *
 * Decision import is admin, not writer: a writer key (an ad server's) can only log what the campaign's
 * own policy chose, and events are facts about those decisions; an import writes trials of arms and
 * propensities the caller picks, in bulk, into the statistics the policy learns from — a migration an
 * operator runs, like creating the campaign, and not something a leaked serving key should be able to do.
 */
export function requiredRole(method: string, path: string): KeyRole {
  if (/^\/v1\/keys(\/|$)/.test(path)) return "admin";
  if (method === "GET" || method === "HEAD") return "reader";
  if (method === "POST" && /^\/v1\/(campaigns\/[^/]+\/decisions|decisions\/batch|events)\/?$/.test(path))
    return "writer";
  return "admin";
}

/** 403 unless the key's role (set by requireWorkspace) covers what the request needs. */
export const requireRole: MiddlewareHandler<AppEnv> = async (c, next) => {
  const role = c.get("role");
  if (role) {
    const need = requiredRole(c.req.method, c.req.path);
    if (RANK[role] < RANK[need])
      throw new ApiError(
        "forbidden",
        `this API key's role (${role}) does not allow ${c.req.method} ${c.req.path}: needs ${need}`,
      );
  }
  await next();
};

/** Answers 401 unless the request carries the admin key. */
export function requireAdmin(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!isAdminKey(bearer(c.req.header("authorization")), deps.adminKey))
      throw new ApiError("unauthorized", "admin key required");
    await next();
  };
}
