/**
 * Response shapes of campaigns and arms: what the API shows of the engine's live objects.
 */
import type { CampaignConfig, LiveArm, LiveCampaign } from "../engine/campaign.ts";
import { delayModelView } from "../engine/timed.ts";
import { budgetStatus } from "../budget/view.ts";

export function armView(a: LiveArm) {
  return {
    key: a.key,
    name: a.name,
    cost: a.cost,
    totalBudget: a.totalBudget ?? null,
    dailyBudget: a.dailyBudget ?? null,
    metadata: a.metadata,
    status: a.status,
  };
}

export function publicCampaign(
  c: CampaignConfig & {
    arms: LiveArm[];
    timed?: LiveCampaign["timed"];
    state?: LiveCampaign["state"];
    budget?: LiveCampaign["budget"];
  },
  nowMs = Date.now(),
) {
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    objective: c.objective,
    strategy: c.strategy,
    status: c.status,
    attributionWindowHours: c.attributionWindowHours,
    explorationFloor: c.explorationFloor,
    contextFeatures: c.contextFeatures,
    trialAt: c.trialAt,
    conversionDelay: c.conversionDelay,
    decay: c.decay,
    currency: c.currency,
    totalBudget: c.totalBudget,
    dailyBudget: c.dailyBudget,
    pacing: c.pacing,
    targetCpa: c.targetCpa,
    minRoas: c.minRoas,
    guardrail: c.guardrail,
    /** Spend against the budgets, pacing, exhaustion (src/budget/view.ts), when it has any. */
    ...(c.budget?.active
      ? {
          budget: budgetStatus(
            c.budget,
            c.arms.map((a) => a.key),
            nowMs,
          ),
        }
      : {}),
    /** The delay model in use (the prior, or learned from observed delays). */
    ...(c.timed ? { delayModel: delayModelView(c.timed.model) } : {}),
    version: c.version,
    /** Numerical problems the strategy met and handled (the latest 20), e.g. an ill-conditioned arm reset. */
    warnings: c.state?.warnings ? [...c.state.warnings] : [],
    arms: c.arms.map(armView),
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}
export type PublicCampaign = ReturnType<typeof publicCampaign>;
