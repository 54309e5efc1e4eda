/**
 * Workspaces and their API keys. A key is `ab_` + 32 random base64url characters; only its sha-256 is
 * stored (with a short prefix to recognise it), so it is shown once, at creation. Each key has a role
 * (reader, writer, admin); a workspace's first key is admin. Revoking sets `revoked_at`: the key stops
 * resolving at once here, and on other replicas when their key cache expires (src/service.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import type { Db } from "./db.ts";
import { apiKeys, type KeyRole, workspaces } from "./schema.ts";

export const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

export const KEY_ROLES: readonly KeyRole[] = ["reader", "writer", "admin"];

export interface KeyInfo {
  id: string;
  prefix: string;
  name: string | null;
  role: KeyRole;
  createdAt: Date;
  revokedAt: Date | null;
}

const newSecret = () => `ab_${randomBytes(24).toString("base64url")}`;

export async function createWorkspace(
  db: Db,
  name: string,
  timezone = "UTC",
): Promise<{ id: string; name: string; timezone: string; apiKey: string; createdAt: Date }> {
  const apiKey = newSecret();
  return db.transaction(async (tx) => {
    // The pseudonyms' HMAC key (src/privacy): 256 random bits, stored server-side only, never returned.
    const [ws] = await tx
      .insert(workspaces)
      .values({ name, timezone, secret: randomBytes(32).toString("hex") })
      .returning({
        id: workspaces.id,
        name: workspaces.name,
        timezone: workspaces.timezone,
        createdAt: workspaces.createdAt,
      });
    await tx
      .insert(apiKeys)
      .values({ workspaceId: ws.id, hash: hashKey(apiKey), prefix: apiKey.slice(0, 8), role: "admin" });
    return { id: ws.id, name: ws.name, timezone: ws.timezone, apiKey, createdAt: ws.createdAt };
  });
}

/** A new key of the workspace; `key` is the secret, returned this once. */
export async function createKey(
  db: Db,
  workspaceId: string,
  role: KeyRole,
  name: string | null,
): Promise<KeyInfo & { key: string }> {
  const key = newSecret();
  const [row] = await db
    .insert(apiKeys)
    .values({ workspaceId, hash: hashKey(key), prefix: key.slice(0, 8), role, name })
    .returning();
  return { key, ...info(row) };
}

export async function listKeys(db: Db, workspaceId: string): Promise<KeyInfo[]> {
  const rs = await db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.workspaceId, workspaceId))
    .orderBy(asc(apiKeys.createdAt));
  return rs.map(info);
}

/** Revokes a key of the workspace (idempotent: revoking twice keeps the first time); null if no such key. */
export async function revokeKey(db: Db, workspaceId: string, id: string): Promise<KeyInfo | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.workspaceId, workspaceId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)));
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.workspaceId, workspaceId), eq(apiKeys.id, id)));
  return row ? info(row) : null;
}

/** The workspace, role and id of a live (not revoked) key, or null. */
export async function resolveKey(
  db: Db,
  key: string,
): Promise<{ workspaceId: string; role: KeyRole; keyId: string } | null> {
  const [row] = await db
    .select({ workspaceId: apiKeys.workspaceId, role: apiKeys.role, keyId: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.hash, hashKey(key)), isNull(apiKeys.revokedAt)));
  return row ?? null;
}

function info(r: typeof apiKeys.$inferSelect): KeyInfo {
  return { id: r.id, prefix: r.prefix, name: r.name, role: r.role, createdAt: r.createdAt, revokedAt: r.revokedAt };
}
