/**
 * Campaigns and arms: validation on top of the store's queries (src/store/campaigns.ts). A change is
 * built in memory first (what the strategy library refuses never reaches the database), written with a
 * version bump, then the campaign is reloaded into the live state.
 */
import { randomUUID } from "node:crypto";
import {
  insertArm,
  insertCampaign,
  updateArm,
  updateCampaign,
  workspaceCampaignIds,
  type ArmChange,
  type CampaignChange,
} from "../store/campaigns.ts";
import type { Db } from "../store/db.ts";
import type {
  ArmRowStatus,
  CampaignKind,
  CampaignStatus,
  ContextFeatureSpec,
  ConversionDelaySpec,
  DecaySpec,
  GuardrailSpec,
  Objective,
  PacingSpec,
  TrialAt,
} from "../store/schema.ts";
import { loadBudgets } from "../budget/load.ts";
import { checkBudget, budgetChange } from "../budget/settings.ts";
import { buildLive, strategyParams, type CampaignConfig, type LiveArm, type LiveCampaign } from "./campaign.ts";
import { DomainError } from "./errors.ts";
import type { LiveState } from "./live.ts";
import { asDomainError, resolveStrategy, type StrategyRegistry } from "./registry.ts";
import { DAY_HOURS, parseSendTimeKey } from "./sendtime.ts";
import { checkTimedSettings } from "./timed.ts";

export interface ArmInput {
  key: string;
  name?: string;
  cost?: number;
  metadata?: Record<string, unknown>;
  totalBudget?: number | null;
  dailyBudget?: number | null;
}

export interface ArmPatch {
  status?: ArmRowStatus;
  name?: string;
  cost?: number;
  metadata?: Record<string, unknown>;
  totalBudget?: number | null;
  dailyBudget?: number | null;
}

/** Budgets, pacing and ROI guardrails (src/budget/); null removes one. */
export interface BudgetInput {
  currency?: string;
  totalBudget?: number | null;
  dailyBudget?: number | null;
  pacing?: PacingSpec | null;
  targetCpa?: number | null;
  minRoas?: number | null;
  guardrail?: GuardrailSpec | null;
}

export interface CampaignInput extends BudgetInput {
  name: string;
  kind: CampaignKind;
  objective: Objective;
  strategy: { type: string } & Record<string, unknown>;
  arms?: ArmInput[];
  attributionWindowHours?: number;
  explorationFloor?: number;
  contextFeatures?: ContextFeatureSpec[];
  conversionDelay?: ConversionDelaySpec | null;
  decay?: DecaySpec | null;
  /** When a decision becomes a trial: when made (default) or at its first impression (fixed at creation). */
  trialAt?: TrialAt;
}

/** conversionDelay and decay apply at once to the stored buckets (they are kept raw); null removes them. */
export interface CampaignPatch extends BudgetInput {
  name?: string;
  status?: CampaignStatus;
  strategy?: Record<string, unknown>;
  explorationFloor?: number;
  attributionWindowHours?: number;
  conversionDelay?: ConversionDelaySpec | null;
  decay?: DecaySpec | null;
}

/**
 * Params that make a posterior depend on the order of observations (discounting, sliding windows)
 * cannot be rebuilt from the commutative sums the service persists and shares between processes,
 * so the service refuses them rather than silently ignoring them (simulations may use them). The
 * campaign-level `decay` ({halfLifeHours} | {windowHours}, src/engine/decay.ts) is the service's way to
 * forget: by the age of the hour buckets, the same on every replica.
 */
const ORDER_DEPENDENT_PARAMS = ["discount", "window"] as const;

function refuseOrderDependent(strategy: Record<string, unknown>): void {
  for (const k of ORDER_DEPENDENT_PARAMS)
    if (strategy[k] !== undefined)
      throw new DomainError(
        "invalid_request",
        `strategy.${k}: not supported by the service (statistics are persisted as commutative sums shared by every process)`,
        [{ path: `strategy.${k}`, message: "not supported by the service; use the campaign's decay" }],
      );
}

const notFound = (what = "campaign") => new DomainError("not_found", `${what} not found`);

/** Runs a build of the strategy state, answering what the library refuses as a 400 naming the field. */
function asStrategyError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asDomainError(err, "strategy") ?? err;
  }
}

export class Campaigns {
  constructor(
    private readonly db: Db,
    private readonly live: LiveState,
    private readonly registry: StrategyRegistry,
  ) {}

  /** The live campaign if it belongs to the workspace (foreign ids answer not_found, like unknown ones). */
  async get(workspaceId: string, id: string): Promise<LiveCampaign> {
    const c = await this.live.get(id);
    if (!c || c.workspaceId !== workspaceId) throw notFound();
    return c;
  }

  async list(workspaceId: string): Promise<LiveCampaign[]> {
    return this.live.getMany(await workspaceCampaignIds(this.db, workspaceId));
  }

  async create(workspaceId: string, input: CampaignInput): Promise<LiveCampaign> {
    const impl = resolveStrategy(this.registry, input.strategy.type);
    refuseOrderDependent(input.strategy);
    const contextFeatures = input.contextFeatures ?? [];
    const sf = input.strategy.explorationFloor;
    const floor = input.explorationFloor ?? (typeof sf === "number" ? sf : 0);
    if (impl.contextual && contextFeatures.length === 0)
      throw new DomainError(
        "invalid_request",
        `contextFeatures: strategy "${impl.type}" is contextual and needs at least one context feature`,
        [{ path: "contextFeatures", message: "required (non-empty) for a contextual strategy" }],
      );
    asStrategyError(() => impl.parseParams(strategyParams(input.strategy, floor)));
    const encoder = impl.contextual || contextFeatures.length ? this.encoder(contextFeatures) : undefined;
    const armsIn = validArms(input);
    const windowHours = input.attributionWindowHours ?? 168;
    checkTimedSettings(input, windowHours);
    checkBudget(input);
    const now = new Date();
    const cfg: CampaignConfig = {
      id: randomUUID(),
      workspaceId,
      name: input.name,
      kind: input.kind,
      objective: input.objective,
      strategy: input.strategy,
      status: "active",
      attributionWindowHours: windowHours,
      explorationFloor: floor,
      contextFeatures,
      trialAt: input.trialAt ?? "decision",
      conversionDelay: input.conversionDelay ?? null,
      decay: input.decay ?? null,
      currency: input.currency ?? "USD",
      totalBudget: input.totalBudget ?? null,
      dailyBudget: input.dailyBudget ?? null,
      pacing: input.pacing ?? null,
      targetCpa: input.targetCpa ?? null,
      minRoas: input.minRoas ?? null,
      guardrail: input.guardrail ?? null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    const arms: LiveArm[] = armsIn.map((a, i) => ({
      key: a.key,
      name: a.name ?? null,
      cost: a.cost ?? 0,
      totalBudget: a.totalBudget ?? null,
      dailyBudget: a.dailyBudget ?? null,
      metadata: a.metadata ?? {},
      status: "active",
      index: i,
      createdAt: now,
    }));
    const live = asStrategyError(() => buildLive(cfg, impl, encoder, arms, new Map()));
    await insertCampaign(
      this.db,
      cfg,
      arms.map((a) => ({
        campaignId: cfg.id,
        key: a.key,
        name: a.name,
        cost: a.cost,
        totalBudget: a.totalBudget ?? null,
        dailyBudget: a.dailyBudget ?? null,
        metadata: a.metadata,
        status: a.status,
        position: a.index,
        createdAt: now,
      })),
    );
    await loadBudgets(this.db, [{ campaign: live }]);
    this.live.adopt(live);
    return live;
  }

  async patch(workspaceId: string, id: string, patch: CampaignPatch): Promise<LiveCampaign> {
    const c = await this.get(workspaceId, id);
    if (c.status === "archived" && patch.status && patch.status !== "archived")
      throw new DomainError("conflict", "an archived campaign cannot be reactivated");
    let strategy = c.strategy;
    if (patch.strategy) {
      if (patch.strategy.type !== undefined && patch.strategy.type !== c.strategy.type)
        throw new DomainError(
          "conflict",
          `strategy.type cannot change (campaign uses "${c.strategy.type}"); create a new campaign`,
        );
      refuseOrderDependent(patch.strategy);
      strategy = { ...c.strategy, ...patch.strategy, type: c.strategy.type };
      asStrategyError(() => c.impl.parseParams(strategyParams(strategy, patch.explorationFloor ?? c.explorationFloor)));
    }
    checkTimedSettings(
      {
        conversionDelay: patch.conversionDelay === undefined ? c.conversionDelay : patch.conversionDelay,
        decay: patch.decay === undefined ? c.decay : patch.decay,
      },
      patch.attributionWindowHours ?? c.attributionWindowHours,
    );
    // Build the changed campaign in memory first: what the strategy refuses never reaches the database.
    asStrategyError(() =>
      buildLive(
        { ...c, strategy, explorationFloor: patch.explorationFloor ?? c.explorationFloor },
        c.impl,
        c.encoder,
        c.arms,
        new Map(c.arms.map((a) => [a.key, c.stats[a.index]])),
      ),
    );
    checkBudget({ ...c, ...patch });
    const change: CampaignChange = { strategy, ...budgetChange(patch) };
    if (patch.name !== undefined) change.name = patch.name;
    if (patch.status !== undefined) change.status = patch.status;
    if (patch.explorationFloor !== undefined) change.explorationFloor = patch.explorationFloor;
    if (patch.attributionWindowHours !== undefined) change.attributionWindowHours = patch.attributionWindowHours;
    if (patch.conversionDelay !== undefined) change.conversionDelay = patch.conversionDelay;
    if (patch.decay !== undefined) change.decay = patch.decay;
    await updateCampaign(this.db, id, change);
    return (await this.live.load(id))!;
  }

  async addArm(workspaceId: string, id: string, arm: ArmInput): Promise<LiveArm> {
    const c = await this.get(workspaceId, id);
    if (c.status === "archived") throw new DomainError("conflict", "campaign is archived");
    if (c.kind === "send_time" && !parseSendTimeKey(arm.key))
      throw new DomainError("invalid_request", 'key: a send_time arm is an hour "00".."23" or "mon-00".."sun-23"', [
        { path: "key", message: "not a send-time hour" },
      ]);
    const reused = () =>
      new DomainError("conflict", `arm key "${arm.key}" is already used in this campaign (keys are never reused)`);
    if (c.armByKey.has(arm.key)) throw reused();
    const probe: LiveArm = {
      key: arm.key,
      name: null,
      cost: 0,
      metadata: {},
      status: "active",
      index: c.arms.length,
      createdAt: new Date(),
    };
    asStrategyError(() => buildLive(c, c.impl, c.encoder, [...c.arms, probe], new Map()));
    const added = await insertArm(this.db, id, {
      key: arm.key,
      name: arm.name ?? null,
      cost: arm.cost ?? 0,
      metadata: arm.metadata ?? {},
      totalBudget: arm.totalBudget ?? null,
      dailyBudget: arm.dailyBudget ?? null,
    });
    if (!added) throw reused();
    const live = (await this.live.load(id))!;
    return live.armByKey.get(arm.key)!;
  }

  async patchArm(workspaceId: string, id: string, key: string, patch: ArmPatch): Promise<LiveArm> {
    const c = await this.get(workspaceId, id);
    const a = c.armByKey.get(key);
    if (!a) throw notFound("arm");
    if (a.status === "archived" && patch.status && patch.status !== "archived")
      throw new DomainError("conflict", "an archived arm cannot be resumed");
    const change: ArmChange = {};
    if (patch.status !== undefined) change.status = patch.status;
    if (patch.name !== undefined) change.name = patch.name;
    if (patch.cost !== undefined) change.cost = patch.cost;
    if (patch.metadata !== undefined) change.metadata = patch.metadata;
    if (patch.totalBudget !== undefined) change.totalBudget = patch.totalBudget;
    if (patch.dailyBudget !== undefined) change.dailyBudget = patch.dailyBudget;
    await updateArm(this.db, id, key, change);
    const live = (await this.live.load(id))!;
    return live.armByKey.get(key)!;
  }

  private encoder(contextFeatures: ContextFeatureSpec[]) {
    try {
      return this.registry.createEncoder(contextFeatures);
    } catch (err) {
      // The encoder names fields "features[i].type"; the API calls them contextFeatures.i.type.
      const d = asDomainError(err, "contextFeatures");
      if (!d) throw err;
      const fix = (t: string) =>
        t.replace("contextFeatures.features[", "contextFeatures.").replace(/^(contextFeatures\.\d+)\]/, "$1");
      throw new DomainError(
        d.code,
        fix(d.message),
        d.details?.map((x) => ({ path: fix(x.path), message: x.message })),
      );
    }
  }
}

/** The campaign's arms (a send-time campaign without arms gets the 24 hours), keys unique and valid. */
function validArms(input: CampaignInput): ArmInput[] {
  let armsIn = input.arms;
  if (!armsIn || armsIn.length === 0) {
    if (input.kind !== "send_time")
      throw new DomainError("invalid_request", "arms: at least one arm is required", [
        { path: "arms", message: "at least one arm is required" },
      ]);
    armsIn = DAY_HOURS.map((key) => ({ key }));
  }
  const seen = new Set<string>();
  armsIn.forEach((a, i) => {
    if (seen.has(a.key))
      throw new DomainError("invalid_request", `arms.${i}.key: duplicate key "${a.key}"`, [
        { path: `arms.${i}.key`, message: `duplicate key "${a.key}"` },
      ]);
    seen.add(a.key);
    if (input.kind === "send_time" && !parseSendTimeKey(a.key))
      throw new DomainError(
        "invalid_request",
        `arms.${i}.key: a send_time arm is an hour "00".."23" or "mon-00".."sun-23"`,
        [{ path: `arms.${i}.key`, message: 'a send_time arm is an hour "00".."23" or "mon-00".."sun-23"' }],
      );
  });
  return armsIn;
}
