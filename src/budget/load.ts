/**
 * The ledger's reads, called by the live state (src/engine/live.ts) inside its exclusive lock — at a
 * campaign's load (`loadBudget`) and at every refresh (`refreshBudgets`, one query for all campaigns) —
 * so that "memory = database + still queued" holds for spend as it does for arm statistics.
 */
import { HOUR_MS } from "../store/buckets.ts";
import type { Db } from "../store/db.ts";
import { readHourlyRequests, readSpendBase, readSpendRows, workspaceTimezone } from "../store/spend.ts";
import type { LiveCampaign } from "../engine/campaign.ts";
import { localHour } from "./day.ts";
import { BudgetLedger, budgetConfig } from "./ledger.ts";

/**
 * Builds the campaign's ledger from the counters. Every campaign has one: spend is counted from the
 * first decision, so a budget set later counts what was spent before it.
 */
export async function loadBudget(db: Db, c: LiveCampaign, prev?: LiveCampaign, nowMs = Date.now()): Promise<void> {
  const cfg = budgetConfig(c, c.arms);
  const tz = await workspaceTimezone(db, c.workspaceId);
  const l = new BudgetLedger(c.id, tz, cfg, nowMs);
  const [base, recent] = await Promise.all([
    readSpendBase(db, c.id, l.fromHour, l.day.day),
    readSpendRows(db, [c.id], l.fromHour),
  ]);
  l.load(base, recent, nowMs);
  await readHistory(db, l, nowMs);
  if (prev?.budget) l.carryFrom(prev.budget);
  c.budget = l;
}

async function readHistory(db: Db, l: BudgetLedger, nowMs: number): Promise<void> {
  const days = l.config.pacing?.mode === "traffic" ? l.config.pacing.days : 0;
  if (days > 0) {
    const to = Math.floor(l.day.startMs / HOUR_MS);
    const hourly = await readHourlyRequests(db, l.campaignId, to - 24 * days, to);
    l.setHistory(hourly, (ms) => localHour(l.tz, ms));
  } else l.historyStale = false;
  void nowMs;
}

/** Re-reads the recent counters of every campaign with a ledger (and a new day's traffic history). */
export async function refreshBudgets(db: Db, campaigns: Iterable<LiveCampaign>, nowMs = Date.now()): Promise<void> {
  const ledgers: BudgetLedger[] = [];
  for (const c of campaigns) if (c.budget) ledgers.push(c.budget);
  if (ledgers.length === 0) return;
  for (const l of ledgers) l.advance(nowMs);
  const from = Math.min(...ledgers.map((l) => l.fromHour));
  const rows = await readSpendRows(
    db,
    ledgers.map((l) => l.campaignId),
    from,
  );
  const by = new Map<string, typeof rows>();
  for (const r of rows) {
    const list = by.get(r.campaignId);
    if (list) list.push(r);
    else by.set(r.campaignId, [r]);
  }
  for (const l of ledgers) {
    l.refresh(by.get(l.campaignId) ?? [], nowMs);
    if (l.historyStale) await readHistory(db, l, nowMs);
  }
}
