/**
 * Spend accounting of decisions and events: what each adds to the spend counters (src/store/spend.ts),
 * queued in the campaign's ledger until its commit settles. Spend = the arm's cost per served decision
 * + the cost of every valid event (an event the fraud gate flags counts in no ROI and in no budget).
 */
import type { LiveArm, LiveCampaign } from "../engine/campaign.ts";
import { hourOf } from "../engine/buckets.ts";
import { mergeSpend, type PacerRow, type SpendIncrement } from "../store/spend.ts";

/** A decision's spend increment (queued in the ledger at once), or none for a campaign not loaded with one. */
export function spendOfDecision(
  c: Pick<LiveCampaign, "id" | "budget">,
  arm: Pick<LiveArm, "key" | "cost"> | undefined,
  nowMs: number,
): SpendIncrement | undefined {
  const l = c.budget;
  if (!l) return undefined;
  if (!l.active) l.advance(nowMs);
  const inc: SpendIncrement = {
    campaignId: c.id,
    armKey: arm?.key ?? "",
    day: l.dayOf(nowMs),
    hour: hourOf(nowMs),
    requests: 1,
    served: arm ? 1 : 0,
    decisionCost: arm?.cost ?? 0,
    eventCost: 0,
    conversions: 0,
    revenue: 0,
  };
  l.queue(inc);
  return inc;
}

export function spendIncrements(batch: { spend?: SpendIncrement }[]): SpendIncrement[] {
  const out: SpendIncrement[] = [];
  for (const e of batch) if (e.spend) out.push(e.spend);
  return out;
}

/**
 * The controller states to store with a decision batch: those of its campaigns that stepped since they
 * were last stored (a step every `intervalSeconds`, so most batches carry none).
 */
export function pacerWrites(
  campaigns: Map<string, LiveCampaign>,
  batch: { row: { campaignId: string } }[],
): PacerRow[] {
  const out: PacerRow[] = [];
  const seen = new Set<string>();
  for (const e of batch) {
    const id = e.row.campaignId;
    if (seen.has(id)) continue;
    seen.add(id);
    const l = campaigns.get(id)?.budget;
    if (l?.pacer && l.pacer !== l.pacerStored) out.push({ campaignId: id, state: l.pacer });
  }
  return out;
}

/** After the batch committed: these states are the stored ones. */
export function pacersStored(campaigns: Map<string, LiveCampaign>, written: PacerRow[]): void {
  for (const w of written) {
    const l = campaigns.get(w.campaignId)?.budget;
    if (l) l.pacerStored = w.state;
  }
}

export function settleSpend(c: LiveCampaign | undefined, inc: SpendIncrement, ok: boolean): void {
  c?.budget?.settle(inc, ok);
}

/** An event as the ingest stored it, with its decision's campaign. */
export interface SpentEvent {
  campaign: LiveCampaign;
  decision: { armKey: string | null };
  ev: { type: string; value: number; cost: number; occurredAt: Date; receivedAt: Date };
  attributed: boolean;
  invalidReason: string | null;
}

/**
 * The spend increments of stored events: cost of every valid event; conversions and revenue of valid
 * attributed conversions. Counted in the hour the event occurred (its occurredAt, already checked against
 * clock skew; a little in the future counts as received), so re-imported history spends on its own days,
 * not today's budget. One increment per (campaign, arm, day, hour), sorted.
 */
export function eventSpend(events: SpentEvent[]): SpendIncrement[] {
  const out: SpendIncrement[] = [];
  for (const a of events) {
    if (a.invalidReason !== null || !a.campaign.budget || a.decision.armKey === null) continue;
    const conv = a.attributed && a.ev.type === "conversion";
    if (a.ev.cost === 0 && !conv) continue;
    const ms = Math.min(a.ev.occurredAt.getTime(), a.ev.receivedAt.getTime());
    out.push({
      campaignId: a.campaign.id,
      armKey: a.decision.armKey,
      day: a.campaign.budget.dayOf(ms),
      hour: hourOf(ms),
      requests: 0,
      served: 0,
      decisionCost: 0,
      eventCost: a.ev.cost,
      conversions: conv ? 1 : 0,
      revenue: conv ? a.ev.value : 0,
    });
  }
  // Merged per (campaign, arm, day, hour) before they are stored and applied: a batch's hundred events
  // fall into a few such rows, and the ledgers' sums do not depend on how they are grouped.
  return mergeSpend(out);
}

/** After the ingest committed: the ledgers follow. */
export function applyEventSpend(campaigns: Map<string, LiveCampaign>, incs: SpendIncrement[]): void {
  for (const i of incs) campaigns.get(i.campaignId)?.budget?.committed(i);
}
