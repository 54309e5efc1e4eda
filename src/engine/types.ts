/**
 * Types the engine shares with the API, the fraud module and the jobs: an incoming event, a logged
 * decision as stored, and the fraud gate the engine consults for each event before it may teach.
 */
import type { DecisionRow } from "../store/decisions.ts";

/** A logged decision as stored (its running reward and conversion flag before the event at hand). */
export type { DecisionRow };

export type EventType = "impression" | "click" | "conversion";

export interface EventSource {
  ip?: string;
  userAgent?: string;
  publisher?: string;
  placement?: string;
}

export interface IncomingEvent {
  /** The sender's idempotency key. */
  id: string;
  decisionId: string;
  type: EventType;
  value: number;
  cost: number;
  occurredAt: Date;
  receivedAt: Date;
  source: EventSource;
}

/**
 * Decides, per event, whether it is invalid (a reason) or clean (null). An invalid event is stored
 * with `invalid_reason`, teaches nothing and counts in no ROI. Must be synchronous and fast: it runs
 * inside the ingest transaction.
 */
export interface FraudGate {
  classify(ev: IncomingEvent, decision: Pick<DecisionRow, "workspaceId">): string | null;
}

export const allowAll: FraudGate = { classify: () => null };

export interface DecisionRequest {
  unitId?: string;
  /** `personalisation: false`: served by the non-contextual policy, nothing identifying stored. */
  consent?: { personalisation?: boolean };
  context?: Record<string, unknown>;
  timezone?: string;
  after?: string | Date;
}

export interface DecisionResult {
  decisionId: string;
  campaignId: string;
  /** null: answered without an arm (`reason`: budget_exhausted, paced, roi_guardrail) — a "no bid". */
  arm: { key: string; name: string | null; metadata: Record<string, unknown> } | null;
  /** P(this outcome): the arm's, or "no arm"'s (the pacing throttle is part of it). */
  propensity: number;
  reason?: "budget_exhausted" | "paced" | "roi_guardrail";
  /** The caller's unit id, echoed (what is stored is its keyed hash). */
  unitId?: string;
  sendAt?: string;
}

export type EventStatus = "accepted" | "duplicate" | "rejected" | "conflict";

/** Per-event outcome: `reason` says why an event was rejected, or why an accepted one is invalid. */
export interface EventResult {
  id: string;
  status: EventStatus;
  reason?: string;
  /** Accepted but marked invalid by the fraud gate: stored, teaches nothing (`reason` says why). */
  invalid?: true;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Ids reused with another payload (type, decision, value, cost or occurredAt). */
  conflicts: number;
  results: EventResult[];
}
