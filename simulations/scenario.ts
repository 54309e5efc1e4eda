/**
 * Scenario files (JSON or YAML): the synthetic market a simulation runs on, validated with zod.
 * Every error names the bad field by its path (e.g. `arms.3.rate: expected a number ≤ 1`), so a marketer
 * editing a file by hand can fix it without reading code. Cross-field rules (unique arm keys, drift and
 * fraud naming existing arms, effects naming declared features) are checked in one superRefine.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

const probability = z.number().min(0).max(1);
const nonNeg = z.number().min(0);

const ArmSchema = z.strictObject({
  key: z.string().min(1),
  /** P(conversion) of one decision at the baseline context, before seasonality. */
  rate: probability,
  /** Revenue of one conversion (mean); `valueSigma` > 0 draws it lognormally around that mean. */
  value: nonNeg.default(1),
  valueSigma: nonNeg.default(0),
  /** Cost of one decision (a send, an impression bought). */
  cost: nonNeg.default(0),
  /** Shifts on the logit scale: `feature` (numeric, per unit) or `feature=level` (categorical). */
  effects: z.record(z.string(), z.number()).default({}),
});

/** 168 arms, one per hour-of-week send slot (Mon 00h … Sun 23h, in UTC); the rate is shaped by seasonality. */
const HourOfWeekArms = z.strictObject({
  rate: probability,
  value: nonNeg.default(1),
  valueSigma: nonNeg.default(0),
  cost: nonNeg.default(0),
});

const FeatureSchema = z.discriminatedUnion("type", [
  z.strictObject({
    name: z.string().min(1),
    type: z.literal("numeric"),
    mean: z.number().default(0),
    sd: nonNeg.default(1),
  }),
  z.strictObject({
    name: z.string().min(1),
    type: z.literal("categorical"),
    levels: z.array(z.strictObject({ value: z.string().min(1), weight: z.number().positive() })).min(1),
  }),
]);

const TimezoneSchema = z.strictObject({
  name: z.string().min(1),
  offsetHours: z.number().min(-12).max(14),
  weight: z.number().positive(),
});

const SeasonalitySchema = z.strictObject({
  /** Multipliers of the rate by local hour of day (0..23) and local day of week (0 = Monday). */
  hourOfDay: z.array(nonNeg).length(24).optional(),
  dayOfWeek: z.array(nonNeg).length(7).optional(),
  /** Recipients' time zones; also exposed to contextual strategies as the categorical feature `timezone`. */
  timezones: z.array(TimezoneSchema).min(1).optional(),
});

const DriftChangeSchema = z.strictObject({
  /** Round at which the change starts. */
  at: z.number().int().min(0),
  /** 0 = sudden change point; > 0 = gradual, linear over that many rounds. */
  rampRounds: z.number().int().min(0).default(0),
  /** New base rates by arm key (arms not named keep theirs). */
  rates: z.record(z.string(), probability),
});

const DelaySchema = z.strictObject({
  distribution: z.enum(["none", "exponential", "lognormal"]).default("none"),
  /** Mean delay in hours (exponential and lognormal). */
  meanHours: z.number().positive().default(1),
  /** Lognormal shape (sd of log delay). */
  sigma: z.number().positive().default(1),
  /** Conversions later than this are stored but neither count nor teach. */
  attributionWindowHours: z
    .number()
    .positive()
    .default(24 * 7),
});

const FraudBurstSchema = z.strictObject({
  start: z.number().int().min(0),
  duration: z.number().int().positive(),
  /** Share of traffic during the burst that is invalid. */
  share: probability,
  /** Number of fraudulent sources (reported, and spreads the burst). */
  sources: z.number().int().positive().default(3),
  /** Probability that an invalid decision produces a fake conversion. */
  fakeRate: probability.default(0.5),
  /** Only this arm receives fake conversions (a publisher's bots clicking one creative); default all arms. */
  arm: z.string().optional(),
});

const FraudSchema = z.strictObject({
  bursts: z.array(FraudBurstSchema).min(1),
  /** Probability that the service flags an invalid event before it teaches (0 = no fraud filter). */
  detectionRate: probability.default(0),
});

const ConversionDelaySchema = z
  .strictObject({
    medianHours: z.number().positive().optional(),
    p95Hours: z.number().positive().optional(),
    learn: z.boolean().default(true),
  })
  .refine((d) => (d.medianHours ?? (d.p95Hours ?? 0) / 5) < (d.p95Hours ?? Infinity), {
    message: "medianHours must be below p95Hours",
    path: ["p95Hours"],
  });

/** Campaign-level decay, as in the service: exponential forgetting by half-life, or a sliding window of hours. */
const DecaySchema = z.union([
  z.strictObject({ halfLifeHours: z.number().positive() }),
  z.strictObject({ windowHours: z.number().int().min(1) }),
]);

const StrategySpecSchema = z.strictObject({
  /** Label in results (defaults to the type); must be unique. */
  name: z.string().min(1).optional(),
  type: z.string().min(1),
  params: z.record(z.string(), z.unknown()).default({}),
  /**
   * The campaign's statistics settings (src/engine/timed.ts, as the service): how a decision whose
   * conversion is still pending counts — `delay-aware` (default, the service's: by the probability its
   * conversion would have arrived by now), `at-decision` (a failed trial until it converts) or
   * `matured-only` (only once the attribution window has passed).
   */
  counting: z.enum(["delay-aware", "at-decision", "matured-only"]).default("delay-aware"),
  /** Prior of the delay model (default from the attribution window) and whether observed delays update it. */
  conversionDelay: ConversionDelaySchema.optional(),
  decay: DecaySchema.optional(),
});

export const ScenarioSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, _ . - only (used in file names)"),
    description: z.string().default(""),
    objective: z.enum(["conversions", "revenue", "profit"]).default("conversions"),
    arms: z.array(ArmSchema).min(1).optional(),
    hourOfWeekArms: HourOfWeekArms.optional(),
    features: z.array(FeatureSchema).default([]),
    seasonality: SeasonalitySchema.optional(),
    drift: z.array(DriftChangeSchema).default([]),
    delay: DelaySchema.default({
      distribution: "none",
      meanHours: 1,
      sigma: 1,
      attributionWindowHours: 168,
    }),
    fraud: FraudSchema.optional(),
    traffic: z.strictObject({
      /** Horizon: number of decisions. */
      rounds: z.number().int().min(1).max(50_000_000),
      /** Decisions per hour (sets the clock for delays, seasonality and the report's time axis). */
      perHour: z.number().positive().default(1000),
      /** Day of week of round 0 (0 = Monday), at 00:00 UTC. */
      startDayOfWeek: z.number().int().min(0).max(6).default(0),
    }),
    learning: z
      .strictObject({
        /** Feedback reaches the strategy in blocks of this many decisions (1 = after every decision). */
        updateEvery: z.number().int().min(1).default(1),
      })
      .default({ updateEvery: 1 }),
    repetitions: z.number().int().min(1).max(10_000).default(10),
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    /** Points kept on each time series (charts, time to find the best arm). */
    checkpoints: z.number().int().min(2).max(2000).default(100),
    strategies: z.array(StrategySpecSchema).min(1),
  })
  .superRefine((s, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    if (!s.arms && !s.hourOfWeekArms) issue(["arms"], "give `arms` or `hourOfWeekArms`");
    if (s.arms && s.hourOfWeekArms) issue(["hourOfWeekArms"], "give either `arms` or `hourOfWeekArms`, not both");
    const keys = new Set<string>();
    s.arms?.forEach((a, i) => {
      if (keys.has(a.key)) issue(["arms", i, "key"], `duplicate arm key "${a.key}"`);
      keys.add(a.key);
    });
    if (s.hourOfWeekArms) for (const k of hourOfWeekKeys()) keys.add(k);
    const feats = new Map<string, Set<string> | null>();
    s.features.forEach((f, i) => {
      if (feats.has(f.name) || f.name === "timezone") issue(["features", i, "name"], `duplicate feature "${f.name}"`);
      feats.set(f.name, f.type === "categorical" ? new Set(f.levels.map((l) => l.value)) : null);
    });
    if (s.seasonality?.timezones) feats.set("timezone", new Set(s.seasonality.timezones.map((t) => t.name)));
    s.arms?.forEach((a, i) => {
      for (const name of Object.keys(a.effects)) {
        const [f, level] = name.split("=", 2);
        const levels = feats.get(f);
        if (levels === undefined) issue(["arms", i, "effects", name], `unknown feature "${f}"`);
        else if (levels === null && level !== undefined)
          issue(["arms", i, "effects", name], `"${f}" is numeric: use "${f}" without a level`);
        else if (levels !== null && (level === undefined || !levels.has(level)))
          issue(["arms", i, "effects", name], `"${f}" is categorical: use "${f}=<one of ${[...levels].join(", ")}>"`);
      }
    });
    s.drift.forEach((d, i) => {
      if (d.at >= s.traffic.rounds) issue(["drift", i, "at"], `must be below traffic.rounds (${s.traffic.rounds})`);
      for (const k of Object.keys(d.rates)) if (!keys.has(k)) issue(["drift", i, "rates", k], `unknown arm "${k}"`);
    });
    s.fraud?.bursts.forEach((b, i) => {
      if (b.arm !== undefined && !keys.has(b.arm)) issue(["fraud", "bursts", i, "arm"], `unknown arm "${b.arm}"`);
      if (b.start >= s.traffic.rounds)
        issue(["fraud", "bursts", i, "start"], `must be below traffic.rounds (${s.traffic.rounds})`);
    });
    const labels = new Set<string>();
    s.strategies.forEach((st, i) => {
      const label = st.name ?? st.type;
      if (labels.has(label))
        issue(["strategies", i, "name"], `duplicate strategy label "${label}": give each a distinct name`);
      labels.add(label);
    });
    if (s.checkpoints > s.traffic.rounds)
      issue(["checkpoints"], `must not exceed traffic.rounds (${s.traffic.rounds})`);
  });

export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type StrategySpec = Scenario["strategies"][number];

export class ScenarioError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`invalid scenario:\n${issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`).join("\n")}`);
    this.name = "ScenarioError";
  }
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/** Keys of the 168 hour-of-week arms: "mon-00" … "sun-23" (UTC). */
export function hourOfWeekKeys(): string[] {
  const out: string[] = [];
  for (let d = 0; d < 7; d++) for (let h = 0; h < 24; h++) out.push(`${DAYS[d]}-${String(h).padStart(2, "0")}`);
  return out;
}

export function parseScenario(input: unknown): Scenario {
  const r = ScenarioSchema.safeParse(input);
  if (!r.success) {
    throw new ScenarioError(r.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })));
  }
  return r.data;
}

/** Parses scenario text; YAML for .yaml/.yml (YAML is a superset of JSON, so either works without a hint). */
export function parseScenarioText(text: string, fileName = "scenario.json"): Scenario {
  let data: unknown;
  try {
    data = extname(fileName) === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ScenarioError([{ path: "", message: `cannot parse ${fileName}: ${(e as Error).message}` }]);
  }
  return parseScenario(data);
}

export function loadScenario(path: string): Scenario {
  return parseScenarioText(readFileSync(path, "utf8"), path);
}

/** Stable label of a strategy in results. */
export function strategyLabel(s: StrategySpec): string {
  return s.name ?? s.type;
}
