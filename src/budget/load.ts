/**
 * The ledger's reads. `budgetLoader` is registered with the live state (src/engine/live.ts
 * `addLoader`): every campaign built from the database — start-up, first use, reload, a refresh's
 * rebuild — gets its ledger before it serves, read in one statement for all of them (workspace time
 * zones, the base sums, the recent rows; one for the paced campaigns' stored controller states; plus one
 * for each traffic-paced campaign's history). `refreshBudgets` runs in
 * every refresh (inside its exclusive lock) for the campaigns with a budget, one statement for all, so
 * "memory = database + still queued" holds for spend as it does for arm statistics.
 */
import type { LiveCampaign } from "../engine/campaign.ts";
import type { CampaignStateLoader } from "../engine/live.ts";
import { HOUR_MS } from "../store/buckets.ts";
import type { Db } from "../store/db.ts";
import { readHourlyRequests, readLedgerRows, readPacers, readSpendRows } from "../store/spend.ts";
import { hourOf } from "../engine/buckets.ts";
import { localHour } from "./day.ts";
import { BudgetLedger, budgetConfig, WINDOW_HOURS } from "./ledger.ts";

/**
 * Builds the campaigns' ledgers from the counters. Every campaign has one: spend is counted from the
 * first decision, so a budget set later counts what was spent before it.
 */
export async function loadBudgets(
  db: Db,
  built: { campaign: LiveCampaign; prev?: LiveCampaign }[],
  nowMs = Date.now(),
): Promise<void> {
  if (built.length === 0) return;
  const fromHour = hourOf(nowMs) - WINDOW_HOURS;
  const read = await readLedgerRows(
    db,
    built.map((b) => b.campaign.id),
    fromHour,
    nowMs,
  );
  const paced = built.filter((b) => b.campaign.pacing?.mode && b.campaign.pacing.mode !== "none");
  const pacers = await readPacers(
    db,
    paced.map((b) => b.campaign.id),
  );
  for (const { campaign: c, prev } of built) {
    const r = read.get(c.id);
    const l = new BudgetLedger(c.id, r?.timezone ?? "UTC", budgetConfig(c, c.arms), nowMs);
    l.load(r?.base ?? [], r?.recent ?? [], nowMs);
    await readHistory(db, l);
    if (l.config.pacing) l.restorePacer(pacers.get(c.id));
    if (prev?.budget) l.carryFrom(prev.budget);
    c.budget = l;
  }
}

/** The live state's loader (registered in src/engine/engine.ts). */
export const budgetLoader: CampaignStateLoader = { load: (db, built) => loadBudgets(db, built) };

function byCampaign<T extends { campaignId: string }>(rows: T[]): Map<string, T[]> {
  const by = new Map<string, T[]>();
  for (const r of rows) {
    const list = by.get(r.campaignId);
    if (list) list.push(r);
    else by.set(r.campaignId, [r]);
  }
  return by;
}

/** Requests per local hour over the last `days` days before today (traffic-shaped plans only). */
async function readHistory(db: Db, l: BudgetLedger): Promise<void> {
  const days = l.config.pacing?.mode === "traffic" ? l.config.pacing.days : 0;
  if (days > 0) {
    const to = Math.floor(l.day.startMs / HOUR_MS);
    const hourly = await readHourlyRequests(db, l.campaignId, to - 24 * days, to);
    l.setHistory(hourly, (ms) => localHour(l.tz, ms));
  } else l.historyStale = false;
}

/** Re-reads the recent counters of every campaign with a budget (and a new day's traffic history). */
export async function refreshBudgets(db: Db, campaigns: Iterable<LiveCampaign>, nowMs = Date.now()): Promise<void> {
  const ledgers: BudgetLedger[] = [];
  for (const c of campaigns) if (c.budget?.active) ledgers.push(c.budget);
  if (ledgers.length === 0) return;
  for (const l of ledgers) l.advance(nowMs);
  const by = byCampaign(
    await readSpendRows(
      db,
      ledgers.map((l) => l.campaignId),
      Math.min(...ledgers.map((l) => l.fromHour)),
    ),
  );
  for (const l of ledgers) {
    l.refresh(by.get(l.campaignId) ?? [], nowMs);
    if (l.historyStale) await readHistory(db, l);
  }
}
