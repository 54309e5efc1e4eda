/**
 * Request and response schemas (zod, via @hono/zod-openapi): the same objects validate requests and
 * produce /openapi.json. Request objects are strict: an unknown field is a 400 naming it (a typo such as
 * `dailyBudjet` is never silently dropped). Bounds (documented in each field's description):
 *   - `context`: at most `CONTEXT_LIMITS.maxDepth` levels, `maxBytes` as JSON, numbers within ±`maxAbs`;
 *   - arm `metadata`: `METADATA_LIMITS`;
 *   - event `value` within ±`MAX_AMOUNT`, `cost` and arm `cost` within [0, `MAX_AMOUNT`] (so sums of
 *     squares of a billion events stay far from overflow);
 *   - every body: strings without U+0000 or lone surrogates, depth ≤ 32, finite numbers (input.ts).
 */
import { z } from "@hono/zod-openapi";
import { MAX_ATTRIBUTION_WINDOW_HOURS } from "../engine/campaign.ts";
import { BODY_MAX_DEPTH, boundedJson } from "./input.ts";

export const CONTEXT_LIMITS = { maxDepth: 4, maxBytes: 8192, maxAbs: 1e9 } as const;
export const METADATA_LIMITS = { maxDepth: 8, maxBytes: 16_384 } as const;
/** Largest absolute money amount (event value, event cost, arm cost). */
export const MAX_AMOUNT = 1e9;

const Context = boundedJson(CONTEXT_LIMITS).openapi({
  description: `Features of this decision (keys → numbers, strings, booleans). At most ${CONTEXT_LIMITS.maxDepth} levels deep, ${CONTEXT_LIMITS.maxBytes} bytes as JSON, numbers within ±${CONTEXT_LIMITS.maxAbs}`,
});
const Metadata = boundedJson(METADATA_LIMITS).openapi({
  description: `Free-form JSON returned with the arm. At most ${METADATA_LIMITS.maxDepth} levels deep, ${METADATA_LIMITS.maxBytes} bytes as JSON`,
});
const Amount = z.number().min(-MAX_AMOUNT).max(MAX_AMOUNT);
const Cost = z.number().min(0).max(MAX_AMOUNT);

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "invalid_request" }),
      message: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

const err = (description: string) => ({ content: { "application/json": { schema: ErrorSchema } }, description });
export const errors = {
  400: err(
    `Invalid request (details name the fields): unknown fields, strings with U+0000 or lone surrogates, bodies nested deeper than ${BODY_MAX_DEPTH} levels, out-of-bound numbers`,
  ),
  401: err("Missing, unknown or revoked API key"),
  403: err("The API key's role does not allow this"),
  404: err("Unknown id, or an id of another workspace"),
  409: err("Conflicting state"),
  413: err("Body too large"),
  429: err("Rate limit of the workspace exceeded (Retry-After says when to retry)"),
  503: err("Database unreachable (Retry-After says when to retry)"),
} as const;

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
export const body = <T extends z.ZodType>(schema: T) => ({
  body: { content: { "application/json": { schema } }, required: true },
});

/** `precision` of the answers that round their figures (reports, the arms' learning table). */
export const Precision = z.enum(["rounded", "full"]).default("rounded").openapi({
  description: "rounded (default): 2 decimals from 1 up, 4 significant digits below; full: as computed",
});

export const IdParam = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "5b0c8c9e-3f7e-4d5b-9a51-0c7b0a1f7d2e" }),
});
export const ArmParam = IdParam.extend({
  key: z.string().openapi({ param: { name: "key", in: "path" }, example: "a" }),
});

export const ArmKey = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "1–64 characters of A–Z a–z 0–9 _ . : -")
  .openapi({ example: "blue-banner" });

const Budget = z.number().positive().max(MAX_AMOUNT);
const armCaps = {
  totalBudget: Budget.nullable()
    .optional()
    .openapi({ description: "Spend cap of this arm over the campaign's life (campaign currency); null: none" }),
  dailyBudget: Budget.nullable()
    .optional()
    .openapi({ description: "Spend cap of this arm per budget day (workspace time zone); null: none" }),
};

export const ArmIn = z
  .strictObject({
    key: ArmKey,
    name: z.string().max(200).optional(),
    cost: Cost.optional().openapi({ description: `Cost of one decision served with this arm, 0–${MAX_AMOUNT}` }),
    metadata: Metadata.optional(),
    ...armCaps,
  })
  .openapi("ArmInput");

export const ContextFeature = z
  .strictObject({
    name: z.string().min(1).max(100),
    type: z.enum(["numeric", "categorical"]),
    values: z.array(z.string()).min(1).max(1000).optional(),
    buckets: z.number().int().min(1).max(65536).optional(),
  })
  .openapi("ContextFeature");

export const StrategyIn = z.looseObject({ type: z.string().min(1).max(64) }).openapi("Strategy", {
  example: { type: "thompson" },
  description:
    "`{type, ...params}`: thompson, gaussian_thompson, top_two_thompson, ucb1, epsilon_greedy, softmax, linucb, lin_ts, logistic_ts, …",
});

const hours = () =>
  z
    .number()
    .finite()
    .positive()
    .max(24 * 366);
export const ConversionDelayIn = z
  .object({
    medianHours: hours().optional(),
    p95Hours: hours().optional(),
    learn: z.boolean().optional(),
  })
  .openapi("ConversionDelay", {
    description:
      "The delay model's prior (lognormal, truncated at the attribution window): median and 95th percentile of the " +
      "decision-to-conversion delay. Default: median W/10, p95 W/2. Observed delays update it unless learn is false.",
  });
export const DecayIn = z
  .union([
    z.object({ halfLifeHours: hours() }),
    z.object({
      windowHours: z
        .number()
        .int()
        .min(1)
        .max(24 * 366),
    }),
  ])
  .openapi("Decay", {
    description: "Forgetting for drift: exponential with a half-life, or a sliding window of hour buckets.",
  });

export const PacingIn = z
  .strictObject({
    mode: z.enum(["none", "even", "traffic"]).openapi({
      description:
        "none: serve as traffic comes until the daily budget is gone; even: spread it evenly over the day; traffic: follow the campaign's own hourly request curve of the last `days` days",
    }),
    days: z.number().int().min(1).max(60).optional().openapi({ description: "traffic: days of history (default 7)" }),
    step: z
      .number()
      .positive()
      .max(10)
      .optional()
      .openapi({ description: "Dual step size η of the throttle controller (default 0.3)" }),
    intervalSeconds: z
      .number()
      .min(1)
      .max(3600)
      .optional()
      .openapi({ description: "Seconds between controller updates (default 60)" }),
    minThrottle: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .openapi({ description: "Lowest serving probability the controller sets (default 0.01)" }),
  })
  .openapi("Pacing");

export const GuardrailIn = z
  .strictObject({
    confidence: z.number().gt(0.5).lt(1).optional().openapi({
      description:
        "Posterior probability of missing targetCpa / minRoas above which an arm gets only exploration traffic (default 0.95)",
    }),
    explorationShare: z.number().min(0).max(0.5).optional().openapi({
      description: "Share of traffic the demoted arms together keep, split evenly (default 0.05)",
    }),
    minSpendMultiple: z.number().min(0).max(1000).optional().openapi({
      description: "An arm can be demoted once it has spent this many target CPAs (default 3)",
    }),
  })
  .openapi("Guardrail");

const budgetFields = {
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "an ISO 4217 code, e.g. USD")
    .optional()
    .openapi({ description: "Currency of every amount of the campaign (default USD)" }),
  totalBudget: Budget.nullable()
    .optional()
    .openapi({ description: "Spend limit over the campaign's life; null: none" }),
  dailyBudget: Budget.nullable()
    .optional()
    .openapi({ description: "Spend limit per budget day (the workspace's time zone); null: none" }),
  pacing: PacingIn.nullable().optional(),
  targetCpa: Budget.nullable().optional().openapi({
    description:
      "Target cost per conversion: an arm above it with high posterior probability gets only exploration traffic",
  }),
  minRoas: z
    .number()
    .positive()
    .max(1e6)
    .nullable()
    .optional()
    .openapi({ description: "Minimum return on ad spend (revenue / spend), enforced like targetCpa" }),
  guardrail: GuardrailIn.nullable().optional(),
};

export const CampaignIn = z
  .strictObject({
    ...budgetFields,
    name: z.string().min(1).max(200),
    kind: z.enum(["creative", "send_time", "channel"]),
    objective: z.enum(["conversions", "revenue", "profit"]),
    strategy: StrategyIn,
    arms: z
      .array(ArmIn)
      .min(1)
      .max(1000)
      .optional()
      .openapi({ description: "For send_time, defaults to the 24 hours of the day" }),
    attributionWindowHours: z
      .number()
      .finite()
      .min(1 / 60, "must be at least one minute (1/60 h)")
      .max(MAX_ATTRIBUTION_WINDOW_HOURS)
      .optional(),
    explorationFloor: z.number().min(0).max(1).optional(),
    contextFeatures: z.array(ContextFeature).max(100).optional(),
    conversionDelay: ConversionDelayIn.optional(),
    decay: DecayIn.optional(),
    trialAt: z
      .enum(["decision", "impression"])
      .optional()
      .openapi({
        description:
          "When a decision counts as a trial: `decision` (default, when it is made) or `impression` (at its first " +
          "valid impression — or first click or conversion if none was reported — so a creative never shown is no " +
          "trial, and the delay-aware pending weight runs from that time). Fixed at creation.",
      }),
  })
  .openapi({ description: "A campaign: arms, objective and the strategy that chooses among them" });

export const CampaignPatchIn = z
  .strictObject({
    ...budgetFields,
    name: z.string().min(1).max(200).optional(),
    status: z.enum(["active", "paused", "archived"]).optional(),
    strategy: z
      .looseObject({ type: z.string().optional() })
      .optional()
      .openapi({ description: "Params to change; the type cannot change" }),
    explorationFloor: z.number().min(0).max(1).optional(),
    attributionWindowHours: z
      .number()
      .finite()
      .min(1 / 60, "must be at least one minute (1/60 h)")
      .max(MAX_ATTRIBUTION_WINDOW_HOURS)
      .optional(),
    conversionDelay: ConversionDelayIn.nullable().optional(),
    decay: DecayIn.nullable().optional(),
  })
  .openapi("CampaignPatch");

export const ArmOut = z
  .object({
    key: z.string(),
    name: z.string().nullable(),
    cost: z.number(),
    totalBudget: z.number().nullable(),
    dailyBudget: z.number().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    status: z.enum(["active", "paused", "archived"]),
  })
  .openapi("Arm");

export const BudgetStatusOut = z
  .object({
    currency: z.string(),
    day: z.string().openapi({ description: "The budget day (workspace-local date)" }),
    timezone: z.string(),
    totalBudget: z.number().nullable(),
    dailyBudget: z.number().nullable(),
    spendTotal: z.number(),
    spendToday: z.number(),
    plannedToday: z.number().nullable().openapi({ description: "What the pacing plan had spent by now" }),
    throttle: z.number().openapi({ description: "Current probability of serving a request (1 without pacing)" }),
    pacingStatus: z.enum(["unpaced", "on_plan", "ahead", "behind", "exhausted"]),
    exhausted: z.enum(["total", "daily", "arms"]).nullable(),
    projectedExhaustion: z.string().nullable().openapi({
      description: "When the daily or total budget runs out at the recent spend rate (null: not before the day ends)",
    }),
    guardrail: z
      .object({
        targetCpa: z.number().nullable(),
        minRoas: z.number().nullable(),
        demotedArms: z.array(z.string()),
      })
      .nullable(),
  })
  .openapi("BudgetStatus");

export const BudgetReportOut = BudgetStatusOut.extend({
  targetCpa: z.number().nullable(),
  minRoas: z.number().nullable(),
  cpa: z.number().nullable().openapi({ description: "Spend per valid attributed conversion (all time)" }),
  roas: z.number().nullable().openapi({ description: "Revenue / spend (all time)" }),
  requests: z.number(),
  served: z.number(),
  notServed: z.number().openapi({ description: "Requests answered without an arm (exhausted, paced, guardrail)" }),
  hours: z
    .array(
      z.object({
        start: z.string(),
        planned: z
          .number()
          .nullable()
          .openapi({ description: "The plan's spend for this hour (null: no daily budget)" }),
        spend: z.number(),
        requests: z.number(),
        served: z.number(),
      }),
    )
    .openapi({ description: "The budget day, hour by hour: planned against actual spend" }),
  arms: z.array(
    z.object({
      armKey: z.string(),
      totalBudget: z.number().nullable(),
      dailyBudget: z.number().nullable(),
      spendTotal: z.number(),
      spendToday: z.number(),
      capped: z.boolean(),
      served: z.number(),
      conversions: z.number(),
      revenue: z.number(),
      cpa: z.number().nullable(),
      roas: z.number().nullable(),
      pCpaAbove: z.number().nullable().openapi({ description: "Posterior P(CPA > targetCpa)" }),
      pRoasBelow: z.number().nullable().openapi({ description: "Posterior P(ROAS < minRoas)" }),
      demoted: z.boolean().openapi({ description: "Gets only exploration traffic (guardrail)" }),
    }),
  ),
}).openapi("BudgetReport");

export const CampaignOut = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.string(),
    objective: z.string(),
    strategy: z.record(z.string(), z.unknown()),
    status: z.string(),
    attributionWindowHours: z.number(),
    explorationFloor: z.number(),
    contextFeatures: z.array(ContextFeature),
    trialAt: z.enum(["decision", "impression"]),
    conversionDelay: ConversionDelayIn.nullable(),
    decay: DecayIn.nullable(),
    delayModel: z
      .object({
        family: z.literal("lognormal"),
        medianHours: z.number(),
        p95Hours: z.number(),
        mu: z.number(),
        sigma: z.number(),
        windowHours: z.number(),
        source: z.enum(["default", "declared", "learned"]),
        observations: z.number(),
      })
      .optional(),
    currency: z.string(),
    totalBudget: z.number().nullable(),
    dailyBudget: z.number().nullable(),
    pacing: PacingIn.nullable(),
    targetCpa: z.number().nullable(),
    minRoas: z.number().nullable(),
    guardrail: GuardrailIn.nullable(),
    budget: BudgetStatusOut.optional(),
    version: z.number(),
    warnings: z.array(z.string()).openapi({
      description:
        "Numerical problems the strategy met and handled (latest 20): an ill-conditioned arm regularised or reset to its prior, an overflowing observation dropped",
    }),
    arms: z.array(ArmOut),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Campaign");

export const ArmPatchIn = z
  .strictObject({
    status: z.enum(["active", "paused", "archived"]).optional(),
    name: z.string().max(200).optional(),
    cost: Cost.optional(),
    metadata: Metadata.optional(),
    ...armCaps,
  })
  .openapi("ArmPatch");

export const ArmReport = z
  .object({
    key: z.string(),
    name: z.string().nullable(),
    status: z.string(),
    decisions: z.number(),
    conversions: z.number(),
    revenue: z.number(),
    spend: z.number().openapi({ description: "Total cost so far: send cost × decisions + event costs" }),
    costPerDecision: z.number().openapi({ description: "The arm's send cost per decision (the arm's `cost`)" }),
    cost: z.number().openapi({ deprecated: true, description: "Deprecated: the same as `spend`" }),
    posteriorMean: z.number(),
    interval95: z
      .tuple([z.number(), z.number()])
      .openapi({ description: "95% posterior (or normal-approximation) interval, [low, high]" }),
    probabilityBest: z.number(),
    trafficShare: z.number().openapi({
      description:
        "Context-free strategies: the current probability of choosing the arm; contextual ones: its share of the last 7 days of decisions",
    }),
  })
  .openapi("ArmReport");

const Instant = z.iso.datetime({ offset: true }).openapi({ example: "2026-05-01T09:00:00Z" });

export const DecisionIn = z
  .strictObject({
    unitId: z.string().max(256).optional().openapi({
      description:
        "Echoed in the answer; stored as its keyed hash (HMAC-SHA-256 per workspace) unless the workspace stores raw identifiers",
    }),
    context: Context.optional(),
    consent: z.strictObject({ personalisation: z.boolean().optional() }).optional().openapi({
      description:
        "personalisation false: served by the campaign's non-contextual policy (context ignored) and logged with its propensity, without context or unit",
    }),
    timezone: z.string().max(64).optional().openapi({ example: "Europe/Paris" }),
    after: Instant.optional(),
  })
  .openapi("DecisionRequest");

export const DecisionOut = z
  .object({
    decisionId: z.string(),
    campaignId: z.string(),
    arm: z
      .object({ key: z.string(), name: z.string().nullable(), metadata: z.record(z.string(), z.unknown()) })
      .nullable()
      .openapi({ description: "null: not served (a no-bid); `reason` says why" }),
    propensity: z.number().openapi({
      description: "Probability of this outcome (the arm, or no arm), the pacing throttle included",
    }),
    reason: z.enum(["budget_exhausted", "paced", "roi_guardrail"]).optional(),
    unitId: z.string().optional().openapi({ description: "The request's unitId, echoed" }),
    sendAt: z.string().optional(),
  })
  .openapi("Decision");

export const BatchIn = z
  .strictObject({
    requests: z
      .array(DecisionIn.extend({ campaignId: z.string().min(1).max(64) }))
      .min(1)
      .max(1000),
  })
  .openapi("DecisionBatchRequest");

export const BatchOut = z.object({ decisions: z.array(z.union([DecisionOut, ErrorSchema])) }).openapi("DecisionBatch");

export const EventIn = z
  .strictObject({
    id: z.string().min(1).max(200).openapi({ description: "The sender's idempotency key" }),
    decisionId: z.string().min(1).max(64),
    type: z.enum(["impression", "click", "conversion"]),
    value: Amount.optional().openapi({ description: `Conversion value, within ±${MAX_AMOUNT}` }),
    cost: Cost.optional().openapi({ description: `Cost of this event, 0–${MAX_AMOUNT}` }),
    occurredAt: Instant.optional(),
    source: z
      .strictObject({
        ip: z.string().max(64).optional(),
        userAgent: z.string().max(1000).optional(),
        publisher: z.string().max(200).optional(),
        placement: z.string().max(200).optional(),
      })
      .optional(),
  })
  .openapi("Event");

export const EventsIn = z.strictObject({ events: z.array(EventIn).min(1).max(1000) }).openapi("EventBatch");

export const EventsOut = z
  .object({
    accepted: z.number(),
    duplicates: z.number(),
    rejected: z.number(),
    conflicts: z.number().openapi({ description: "Ids reused with another payload" }),
    results: z.array(
      z.object({
        id: z.string(),
        status: z.enum(["accepted", "duplicate", "rejected", "conflict"]),
        reason: z.string().optional().openapi({
          description:
            "Why rejected (unknown_decision, decision_not_served, occurred_before_decision, occurred_in_future) or, with invalid, why the fraud gate flagged it",
        }),
        invalid: z.literal(true).optional().openapi({ description: "Accepted but flagged invalid: teaches nothing" }),
      }),
    ),
  })
  .openapi("EventBatchResult");

const Uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "a UUID")
  .openapi({ example: "0b6f1c9e-8a4d-4f5e-9b7a-3c2d1e0f9a8b" });

export const ImportedDecisionIn = z
  .strictObject({
    decisionId: Uuid.openapi({ description: "The decision's id in the log (a UUID); importing it again is a no-op" }),
    armKey: ArmKey.openapi({ description: "The arm that was chosen (an arm of the campaign, any status)" }),
    propensity: z
      .number()
      .gt(0)
      .max(1)
      .openapi({ description: "The probability the logging policy chose this arm with, in (0, 1]" }),
    context: Context.optional(),
    unitId: z.string().max(256).optional(),
    decidedAt: Instant.openapi({ description: "When the decision was made (not in the future)" }),
  })
  .openapi("ImportedDecision");

/** Largest number of decisions in one import request. */
export const MAX_DECISION_IMPORT = 1000;

export const DecisionImportIn = z
  .strictObject({ decisions: z.array(ImportedDecisionIn).min(1).max(MAX_DECISION_IMPORT) })
  .openapi("DecisionImport");

export const DecisionImportOut = z
  .object({
    accepted: z.number(),
    duplicates: z.number(),
    rejected: z.number(),
    results: z.array(
      z.object({
        decisionId: z.string(),
        status: z.enum(["accepted", "duplicate", "rejected"]),
        reason: z.string().optional().openapi({
          description:
            "Why rejected: unknown_arm, decided_in_future, invalid_context (the campaign's context features refused it), conflict (the id is logged with another campaign, arm, propensity or time)",
        }),
      }),
    ),
  })
  .openapi("DecisionImportResult");
