/**
 * The decision-import flow: historical decisions (made by another system, or by this one before a
 * migration) written into the decision log with their own id, arm, propensity and time, so that their
 * events — imported later, or arriving now — attribute to them exactly as to live decisions, and
 * off-policy evaluation sees the logging policy's propensities.
 *
 * An imported decision is a logged trial like any other. It is written by the one decision insert
 * (store/decisions.ts `insertDecisionsWithStats`), with its trial in arm_stats and in its own hour's
 * bucket — which the exact rebuild (recompute.ts) and the bucket read-back imply for every stored
 * decision anyway. A decision imported without its trial would leave the statistics inconsistent: its
 * conversions, once imported, would add rewards to an arm without the trials they belong to (for a
 * conversion objective Σr > n), and the consistency check would then add the trials back.
 * So importing decisions does teach: their trials count (at reward 0 until their events arrive). Import
 * into a paused campaign, then the events, then resume, when the gap between the two must not show.
 *
 * Per item: accepted; duplicate (the id is already logged for this campaign with the same arm, propensity
 * and time — a rerun is a no-op); rejected with a reason (unknown_arm, decided_in_future, invalid_context,
 * conflict). Imports of one campaign are serialised by an advisory lock, so concurrent reruns of the same
 * ids count each once; the in-memory posterior is read back from the database after the commit.
 */
import { pseudonymiseUnit, type WorkspacePrivacy } from "../privacy/pseudonym.ts";
import type { Db } from "../store/db.ts";
import { isUnavailable } from "../store/db.ts";
import {
  insertDecisionsWithStats,
  lockCampaignImport,
  storedDecisions,
  type DecisionRow,
  type StoredDecision,
} from "../store/decisions.ts";
import type { LiveCampaign } from "./campaign.ts";
import { hourOf } from "./buckets.ts";
import { retryTransient } from "./db-errors.ts";
import { DomainError } from "./errors.ts";
import { CLOCK_SKEW_TOLERANCE_MS } from "./learn.ts";
import type { LiveState } from "./live.ts";
import { baseReward } from "./rewards.ts";
import { trialIncrement, type ArmIncrement } from "./stats.ts";

export interface ImportedDecision {
  decisionId: string;
  armKey: string;
  propensity: number;
  context?: Record<string, unknown>;
  unitId?: string;
  decidedAt: string | Date;
}

export type DecisionImportStatus = "accepted" | "duplicate" | "rejected";

export interface DecisionImportItem {
  decisionId: string;
  status: DecisionImportStatus;
  reason?: string;
}

export interface DecisionImportResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: DecisionImportItem[];
}

interface Candidate {
  i: number;
  row: DecisionRow;
  inc: ArmIncrement;
}

/** What must match for an id already logged to be this decision again. */
const same = (s: StoredDecision, r: DecisionRow) =>
  s.workspaceId === r.workspaceId &&
  s.campaignId === r.campaignId &&
  s.armKey === r.armKey &&
  s.propensity === r.propensity &&
  s.createdAt.getTime() === r.createdAt.getTime();

export async function importDecisions(
  db: Db,
  live: LiveState,
  c: LiveCampaign,
  input: ImportedDecision[],
  /** The workspace's key: an imported unit id is stored as its keyed hash like a live one (src/privacy). */
  ws: WorkspacePrivacy,
  skewMs = CLOCK_SKEW_TOLERANCE_MS,
): Promise<DecisionImportResult> {
  const now = Date.now();
  const results: DecisionImportItem[] = input.map((d) => ({ decisionId: d.decisionId, status: "accepted" }));
  const reject = (i: number, reason: string): void => {
    results[i] = { decisionId: input[i].decisionId, status: "rejected", reason };
  };
  const first = new Map<string, DecisionRow>();
  const candidates: Candidate[] = [];
  for (let i = 0; i < input.length; i++) {
    const d = input[i];
    const arm = c.armByKey.get(d.armKey);
    const createdAt = new Date(d.decidedAt);
    const id = d.decisionId.toLowerCase();
    if (!arm) {
      reject(i, "unknown_arm");
      continue;
    }
    if (Number.isNaN(createdAt.getTime()) || createdAt.getTime() - now > skewMs) {
      reject(i, "decided_in_future");
      continue;
    }
    let x: Float64Array | undefined;
    if (c.encoder) {
      try {
        x = c.encoder.encode(d.context);
      } catch (err) {
        reject(i, `invalid_context: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
        continue;
      }
    }
    const inc = trialIncrement({ campaignId: c.id, armKey: arm.key }, baseReward(c.objective, arm.cost), x);
    const row: DecisionRow = {
      id,
      workspaceId: c.workspaceId,
      campaignId: c.id,
      armKey: arm.key,
      propensity: d.propensity,
      served: true,
      reason: null,
      context: d.context ?? null,
      ...(d.unitId !== undefined ? pseudonymiseUnit(ws, d.unitId) : { unitId: null, unitHash: null }),
      timezone: null,
      position: null,
      strategyVersion: c.version,
      createdAt,
      reward: inc.sum,
      converted: false,
    };
    const seen = first.get(id);
    if (seen) {
      results[i] = same(seen, row)
        ? { decisionId: d.decisionId, status: "duplicate" }
        : { decisionId: d.decisionId, status: "rejected", reason: "conflict" };
      continue;
    }
    first.set(id, row);
    candidates.push({ i, row, inc });
  }

  if (candidates.length) {
    try {
      await retryTransient(() =>
        db.transaction(async (tx) => {
          await lockCampaignImport(tx, c.id);
          const stored = new Map(
            (
              await storedDecisions(
                tx,
                candidates.map((x) => x.row.id),
              )
            ).map((s) => [s.id, s]),
          );
          const fresh: Candidate[] = [];
          for (const x of candidates) {
            const s = stored.get(x.row.id);
            if (!s) {
              fresh.push(x);
              results[x.i] = { decisionId: input[x.i].decisionId, status: "accepted" };
            } else
              results[x.i] = same(s, x.row)
                ? { decisionId: input[x.i].decisionId, status: "duplicate" }
                : { decisionId: input[x.i].decisionId, status: "rejected", reason: "conflict" };
          }
          await insertDecisionsWithStats(
            tx,
            fresh.map((x) => x.row),
            fresh.map((x) => x.inc),
            fresh.map((x) => ({
              campaignId: c.id,
              armKey: x.inc.armKey,
              hour: hourOf(x.row.createdAt.getTime()),
              trials: x.inc,
            })),
          );
          return fresh.length;
        }),
      ).then(async (n) => {
        // Memory follows the database (the trials were never pending in memory, so nothing counts twice).
        if (n > 0) await live.reloadStats(c.id);
      });
    } catch (err) {
      if (isUnavailable(err)) throw new DomainError("unavailable", "database unavailable");
      throw err;
    }
  }

  const out: DecisionImportResult = { accepted: 0, duplicates: 0, rejected: 0, results };
  for (const r of results) {
    if (r.status === "accepted") out.accepted++;
    else if (r.status === "duplicate") out.duplicates++;
    else out.rejected++;
  }
  return out;
}
