/**
 * Workspaces and their API keys. A key is `ab_` + 32 random base64url characters; only its sha-256 is
 * stored (with a short prefix to recognise it), so it is shown once, at creation.
 */
import { createHash, randomBytes } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "./db.ts";
import { apiKeys, workspaces } from "./schema.ts";

export const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

export async function createWorkspace(
  db: Db,
  name: string,
): Promise<{ id: string; name: string; apiKey: string; createdAt: Date }> {
  const apiKey = `ab_${randomBytes(24).toString("base64url")}`;
  return db.transaction(async (tx) => {
    const [ws] = await tx.insert(workspaces).values({ name }).returning();
    await tx.insert(apiKeys).values({ workspaceId: ws.id, hash: hashKey(apiKey), prefix: apiKey.slice(0, 8) });
    return { id: ws.id, name: ws.name, apiKey, createdAt: ws.createdAt };
  });
}

export async function workspaceIdForKey(db: Db, key: string): Promise<string | null> {
  const [row] = await db
    .select({ workspaceId: apiKeys.workspaceId })
    .from(apiKeys)
    .where(and(eq(apiKeys.hash, hashKey(key)), isNull(apiKeys.revokedAt)));
  return row?.workspaceId ?? null;
}
