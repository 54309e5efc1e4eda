/**
 * Campaign and arm queries (plain functions `(db, params)`, typed by drizzle's builder). Every change of
 * configuration or arms bumps `campaigns.version`, which is how other processes notice it (refresh).
 */
import { and, asc, eq, ne, sql } from "drizzle-orm";
import { uuidArray } from "./arm-stats.ts";
import type { Db } from "./db.ts";
import { armStats, arms, campaigns } from "./schema.ts";

/** change_xid is the change feed's (src/store/live-load.ts), not configuration. */
export type CampaignRow = Omit<typeof campaigns.$inferSelect, "changeXid">;
export type ArmRow = Omit<typeof arms.$inferSelect, "changeXid">;
export type CampaignChange = Partial<
  Pick<
    typeof campaigns.$inferInsert,
    | "name"
    | "status"
    | "strategy"
    | "explorationFloor"
    | "attributionWindowHours"
    | "conversionDelay"
    | "decay"
    | "currency"
    | "totalBudget"
    | "dailyBudget"
    | "pacing"
    | "targetCpa"
    | "minRoas"
    | "guardrail"
  >
>;
export type ArmChange = Partial<
  Pick<typeof arms.$inferInsert, "status" | "name" | "cost" | "metadata" | "totalBudget" | "dailyBudget">
>;

type Reader = Pick<Db, "select">;

const bumpVersion = () => ({ version: sql`${campaigns.version} + 1`, updatedAt: new Date() });

/** Ids of the campaigns a process serves (every one not archived). */
export async function servedCampaignIds(db: Reader): Promise<string[]> {
  const r = await db.select({ id: campaigns.id }).from(campaigns).where(ne(campaigns.status, "archived"));
  return r.map((x) => x.id);
}

export async function workspaceCampaignIds(db: Reader, workspaceId: string): Promise<string[]> {
  const r = await db
    .select({ id: campaigns.id })
    .from(campaigns)
    .where(eq(campaigns.workspaceId, workspaceId))
    .orderBy(asc(campaigns.createdAt));
  return r.map((x) => x.id);
}

/** A campaign with its arms and their stored totals, or undefined. */
export async function readCampaign(db: Reader, id: string) {
  const [campaign] = await db.select().from(campaigns).where(eq(campaigns.id, id));
  if (!campaign) return undefined;
  const armRows = await db.select().from(arms).where(eq(arms.campaignId, id));
  const stats = await db.select().from(armStats).where(eq(armStats.campaignId, id));
  return { campaign, arms: armRows, stats };
}

/** Versions of these campaigns, with the database's clock (the refresh's next "since"). */
export async function campaignVersions(db: Db, ids: string[]): Promise<{ id: string; version: number; now: Date }[]> {
  if (ids.length === 0) return [];
  const r = await db
    .select({ id: campaigns.id, version: campaigns.version, now: sql<Date | string>`now()` })
    .from(campaigns)
    .where(sql`${campaigns.id} = any(${uuidArray(ids)})`);
  return r.map((x) => ({ id: x.id, version: x.version, now: new Date(x.now) }));
}

/** A new campaign, its arms and their zero totals, atomically. */
export async function insertCampaign(db: Db, campaign: CampaignRow, armRows: ArmRow[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(campaigns).values(campaign);
    await tx.insert(arms).values(armRows);
    await tx.insert(armStats).values(armRows.map((a) => ({ campaignId: campaign.id, armKey: a.key })));
  });
}

export async function updateCampaign(db: Db, id: string, change: CampaignChange): Promise<void> {
  await db
    .update(campaigns)
    .set({ ...change, ...bumpVersion() })
    .where(eq(campaigns.id, id));
}

/**
 * Adds an arm at the next position (the campaign row locked, so concurrent adds get distinct
 * positions). Returns false when the key was ever used in the campaign (keys are never reused).
 */
export async function insertArm(
  db: Db,
  campaignId: string,
  arm: Pick<ArmRow, "key" | "name" | "cost" | "metadata"> & Partial<Pick<ArmRow, "totalBudget" | "dailyBudget">>,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.select({ id: campaigns.id }).from(campaigns).where(eq(campaigns.id, campaignId)).for("update");
    const [{ used, next }] = await tx
      .select({
        used: sql<number>`count(*) filter (where ${arms.key} = ${arm.key})::int`,
        next: sql<number>`coalesce(max(${arms.position}) + 1, 0)::int`,
      })
      .from(arms)
      .where(eq(arms.campaignId, campaignId));
    if (Number(used) > 0) return false;
    await tx.insert(arms).values({ campaignId, ...arm, status: "active", position: Number(next) });
    await tx.insert(armStats).values({ campaignId, armKey: arm.key }).onConflictDoNothing();
    await tx.update(campaigns).set(bumpVersion()).where(eq(campaigns.id, campaignId));
    return true;
  });
}

export async function updateArm(db: Db, campaignId: string, key: string, change: ArmChange): Promise<void> {
  await db.transaction(async (tx) => {
    if (Object.keys(change).length)
      await tx
        .update(arms)
        .set(change)
        .where(and(eq(arms.campaignId, campaignId), eq(arms.key, key)));
    await tx.update(campaigns).set(bumpVersion()).where(eq(campaigns.id, campaignId));
  });
}
