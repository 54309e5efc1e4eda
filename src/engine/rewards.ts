/**
 * What a decision earns, per campaign objective. A decision is a trial when made, with reward
 * `baseReward` (profit: minus the arm's cost); each attributed, valid event then moves its running
 * reward: conversions → +1 for the first conversion; revenue → + value of each conversion;
 * profit → + value of each conversion − cost of every event (a CPC click, a conversion's own cost).
 */
import type { Objective } from "../store/schema.ts";

export interface RewardState {
  reward: number;
  converted: boolean;
}

export function baseReward(objective: Objective, armCost: number): number {
  return objective === "profit" ? -armCost : 0;
}

export function applyEvent(
  objective: Objective,
  s: RewardState,
  ev: { type: string; value: number; cost: number },
): void {
  if (ev.type === "conversion") {
    if (objective === "conversions") {
      if (!s.converted) s.reward += 1;
    } else s.reward += ev.value;
    s.converted = true;
  }
  if (objective === "profit") s.reward -= ev.cost;
}
