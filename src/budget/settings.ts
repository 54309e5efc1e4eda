/**
 * Campaign budget settings: the checks the request schema cannot make (how the fields go together), as
 * 400s naming the field, and the change a PATCH makes. Unknown fields and out-of-range values are
 * caught earlier by the strict schemas (src/api/schemas.ts).
 */
import { DomainError } from "../engine/errors.ts";
import type { CampaignChange } from "../store/campaigns.ts";
import type { GuardrailSpec, PacingSpec } from "../store/schema.ts";

export interface BudgetSettings {
  currency?: string;
  totalBudget?: number | null;
  dailyBudget?: number | null;
  pacing?: PacingSpec | null;
  targetCpa?: number | null;
  minRoas?: number | null;
  guardrail?: GuardrailSpec | null;
}

const bad = (path: string, message: string) =>
  new DomainError("invalid_request", `${path}: ${message}`, [{ path, message }]);

/** The settings as they will be (a create, or the campaign with the patch applied). */
export function checkBudget(s: BudgetSettings): void {
  if (s.pacing && s.pacing.mode !== "none" && (s.dailyBudget === null || s.dailyBudget === undefined))
    throw bad("pacing", "pacing spreads the daily budget: set dailyBudget too");
  if (s.guardrail && s.targetCpa == null && s.minRoas == null)
    throw bad("guardrail", "guardrail settings need targetCpa or minRoas");
}

/** The columns a PATCH changes (undefined: unchanged; null: removed). */
export function budgetChange(p: BudgetSettings): CampaignChange {
  const out: CampaignChange = {};
  if (p.currency !== undefined) out.currency = p.currency;
  if (p.totalBudget !== undefined) out.totalBudget = p.totalBudget;
  if (p.dailyBudget !== undefined) out.dailyBudget = p.dailyBudget;
  if (p.pacing !== undefined) out.pacing = p.pacing;
  if (p.targetCpa !== undefined) out.targetCpa = p.targetCpa;
  if (p.minRoas !== undefined) out.minRoas = p.minRoas;
  if (p.guardrail !== undefined) out.guardrail = p.guardrail;
  return out;
}
