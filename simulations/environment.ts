/**
 * One repetition's synthetic market, drawn in advance (common random numbers): every strategy compared in
 * the repetition faces the same contexts, the same reward uniforms U[t][a], the same delays and the same
 * fraud, so differences between strategies are not sampling noise of the environment.
 *
 *   rate_a(t, x) = clamp( sigmoid(logit(base_a(t)) + Σ_f effect_{a,f} x_f) · season(localHourOfWeek) , 0, 1)
 *   converted(t, a) = U[t][a] < rate_a(t, x_t)        (U[t][a] = output t·K + a of the reward stream)
 *
 * base_a(t) is piecewise linear in t (drift: sudden change points or linear ramps); season(h) =
 * hourOfDay[h mod 24] · dayOfWeek[⌊h/24⌋] at the recipient's local hour of week — the round's own time for
 * ordinary arms, the arm's send slot for hour-of-week arms. Invalid (fraud) traffic never truly converts
 * (rate 0) but may report fake conversions. Delays are drawn per round (exponential or lognormal); a
 * conversion later than the attribution window neither counts nor teaches.
 *
 * Expected objective of a decision (pseudo-regret uses it, not realised rewards):
 *   conversions: rate·P(delay ≤ window);  revenue: rate·P(delay ≤ window)·value_a;  profit: revenue − cost_a.
 */
import { errorFunction } from "simple-statistics";
import { Mulberry32 } from "../strategies/rng.ts";
import { contextLayout, type ContextLayout } from "./encode.ts";
import { categorical, deriveSeed, logit, normal, sigmoid } from "./random.ts";
import { hourOfWeekKeys, type Scenario } from "./scenario.ts";

export interface ArmDef {
  key: string;
  rate: number;
  value: number;
  valueSigma: number;
  cost: number;
  /** Send slot (hour of week, UTC) for hour-of-week arms, −1 otherwise. */
  slot: number;
}

export interface Environment {
  K: number;
  T: number;
  arms: ArmDef[];
  objective: Scenario["objective"];
  layout: ContextLayout;
  /** Reward uniforms, T·K. */
  u: Float64Array;
  /** True conversion rate; index t·muStride + a (muStride = 0 when it never changes). */
  mu: Float64Array;
  muStride: number;
  /** Expected objective of arm a = mu · kVal[a] − kCost[a]. */
  kVal: Float64Array;
  kCost: Float64Array;
  /** Per round (or one value when stationary): best expected objective, its arm, and the worst-quartile threshold. */
  best: Float64Array;
  bestArm: Int32Array;
  worstThreshold: Float64Array;
  /** Encoded contexts T·dim (empty when the scenario has no context). */
  x: Float64Array;
  /** Standard normal per round for lognormal conversion values. */
  valueZ: Float64Array | null;
  /** Delay in rounds per round; +Infinity when outside the attribution window. Null: no delays. */
  delayRounds: Float64Array | null;
  windowRounds: number;
  /** Attribution window in hours, and decisions per hour (the clock of hour buckets and delays). */
  windowHours: number;
  perHour: number;
  /** P(delay ≤ attribution window). */
  pAttributed: number;
  /** Fraud: per round probability of a fake conversion (0 = valid traffic), targeted arm (−1 = any), uniforms, detection. */
  fraud: null | { fakeRate: Float32Array; arm: Int32Array; u: Float64Array; detected: Uint8Array; source: Int16Array };
}

/** Arms as declared, or the 168 hour-of-week slots. */
export function armDefs(s: Scenario): ArmDef[] {
  if (s.arms)
    return s.arms.map((a) => ({
      key: a.key,
      rate: a.rate,
      value: a.value,
      valueSigma: a.valueSigma,
      cost: a.cost,
      slot: -1,
    }));
  const h = s.hourOfWeekArms!;
  return hourOfWeekKeys().map((key, slot) => ({
    key,
    rate: h.rate,
    value: h.value,
    valueSigma: h.valueSigma,
    cost: h.cost,
    slot,
  }));
}

function attributedProbability(s: Scenario): number {
  const d = s.delay;
  const w = d.attributionWindowHours;
  if (d.distribution === "exponential") return 1 - Math.exp(-w / d.meanHours);
  if (d.distribution === "lognormal") {
    // mean = exp(m + σ²/2) ⇒ m = ln(mean) − σ²/2
    const m = Math.log(d.meanHours) - (d.sigma * d.sigma) / 2;
    return 0.5 * (1 + errorFunction((Math.log(w) - m) / (d.sigma * Math.SQRT2)));
  }
  return 1;
}

/** Base rate of each arm at round t under drift (piecewise linear between change points). */
function baseRatesAt(s: Scenario, arms: ArmDef[], t: number, out: Float64Array): void {
  for (let a = 0; a < arms.length; a++) out[a] = arms[a].rate;
  for (const d of s.drift) {
    if (t < d.at) continue;
    const f = d.rampRounds === 0 ? 1 : Math.min(1, (t - d.at) / d.rampRounds);
    for (let a = 0; a < arms.length; a++) {
      const target = d.rates[arms[a].key];
      if (target !== undefined) out[a] = out[a] + f * (target - out[a]);
    }
  }
}

export function isStationary(s: Scenario): boolean {
  const season = s.seasonality;
  return (
    s.features.length === 0 &&
    !season?.timezones &&
    !season?.hourOfDay &&
    !season?.dayOfWeek &&
    s.drift.length === 0 &&
    !s.fraud &&
    !s.hourOfWeekArms
  );
}

/** Draws repetition `rep`'s environment from the scenario seed. Cost O(T·K·features), shared by all strategies. */
export function buildEnvironment(s: Scenario, rep: number): Environment {
  const repSeed = deriveSeed(s.seed, rep);
  const arms = armDefs(s);
  const K = arms.length;
  const T = s.traffic.rounds;
  const layout = contextLayout(s);
  const contextual = layout.dim > 1;
  const stationary = isStationary(s);
  const pAttributed = attributedProbability(s);

  const kVal = new Float64Array(K);
  const kCost = new Float64Array(K);
  for (let a = 0; a < K; a++) {
    kVal[a] = pAttributed * (s.objective === "conversions" ? 1 : arms[a].value);
    kCost[a] = s.objective === "profit" ? arms[a].cost : 0;
  }

  const ru = new Mulberry32(deriveSeed(repSeed, "rewards"));
  const u = new Float64Array(T * K);
  for (let i = 0; i < u.length; i++) u[i] = ru.next();

  // Contexts: raw values kept only for the rate computation; the encoded rows go to contextual strategies.
  const rc = new Mulberry32(deriveSeed(repSeed, "context"));
  const x = new Float64Array(contextual ? T * layout.dim : 0);
  const catIdx = new Int32Array(T * layout.categorical.length);
  const numRaw = new Float64Array(T * layout.numeric.length);
  if (contextual) {
    for (let t = 0; t < T; t++) {
      const row = t * layout.dim;
      x[row] = 1;
      layout.numeric.forEach((f, j) => {
        const v = f.mean + f.sd * normal(rc);
        numRaw[t * layout.numeric.length + j] = v;
        x[row + f.col] = f.sd > 0 ? (v - f.mean) / f.sd : 0;
      });
      layout.categorical.forEach((f, j) => {
        const l = categorical(rc, f.weights);
        catIdx[t * layout.categorical.length + j] = l;
        x[row + f.col + l] = 1;
      });
    }
  }

  // Effects as arrays aligned with the layout, so the rate of (t, a) is a short dot product.
  const numEff = arms.map((_, a) => layout.numeric.map((f) => s.arms?.[a]?.effects[f.name] ?? 0));
  const catEff = arms.map((_, a) =>
    layout.categorical.map((f) => f.levels.map((l) => s.arms?.[a]?.effects[`${f.name}=${l}`] ?? 0)),
  );
  const hasEffects = s.arms?.some((a) => Object.keys(a.effects).length > 0) ?? false;
  const tz = s.seasonality?.timezones;
  const tzCol = tz ? layout.categorical.length - 1 : -1;
  const hod = s.seasonality?.hourOfDay;
  const dow = s.seasonality?.dayOfWeek;
  const season = (h: number) => {
    const hh = ((h % 168) + 168) % 168;
    return (hod ? hod[hh % 24] : 1) * (dow ? dow[Math.floor(hh / 24)] : 1);
  };

  // Fraud: which rounds are invalid, and what they report.
  let fraud: Environment["fraud"] = null;
  if (s.fraud) {
    const rf = new Mulberry32(deriveSeed(repSeed, "fraud"));
    fraud = {
      fakeRate: new Float32Array(T),
      arm: new Int32Array(T).fill(-1),
      u: new Float64Array(T),
      detected: new Uint8Array(T),
      source: new Int16Array(T).fill(-1),
    };
    let sourceBase = 0;
    for (const b of s.fraud.bursts) {
      const armIdx = b.arm === undefined ? -1 : arms.findIndex((a) => a.key === b.arm);
      for (let t = b.start; t < Math.min(T, b.start + b.duration); t++) {
        if (rf.next() < b.share) {
          fraud.fakeRate[t] = b.fakeRate;
          fraud.arm[t] = armIdx;
          fraud.source[t] = sourceBase + Math.floor(rf.next() * b.sources);
        }
      }
      sourceBase += b.sources;
    }
    for (let t = 0; t < T; t++) {
      fraud.u[t] = rf.next();
      fraud.detected[t] = rf.next() < s.fraud.detectionRate ? 1 : 0;
    }
  }

  const muStride = stationary ? 0 : K;
  const rows = stationary ? 1 : T;
  const mu = new Float64Array(rows * K);
  const best = new Float64Array(rows);
  const bestArm = new Int32Array(rows);
  const worstThreshold = new Float64Array(rows);
  const base = new Float64Array(K);
  const eobj = new Float64Array(K);
  const sorted = new Float64Array(K);
  const q = Math.max(0, Math.ceil(K / 4) - 1);
  const startHour = s.traffic.startDayOfWeek * 24;
  let lastDriftT = -1;
  for (let t = 0; t < rows; t++) {
    if (s.drift.length > 0 || lastDriftT < 0) {
      baseRatesAt(s, arms, t, base);
      lastDriftT = t;
    }
    const roundHow = Math.floor(startHour + t / s.traffic.perHour);
    const off = tz ? Math.floor(tz[catIdx[t * layout.categorical.length + tzCol]].offsetHours) : 0;
    const invalid = fraud !== null && fraud.fakeRate[t] > 0;
    for (let a = 0; a < K; a++) {
      let p = base[a];
      if (hasEffects) {
        let z = logit(p);
        const ne = numEff[a];
        for (let j = 0; j < ne.length; j++)
          if (ne[j] !== 0) z += ne[j] * (numRaw[t * ne.length + j] - layout.numeric[j].mean);
        const ce = catEff[a];
        for (let j = 0; j < ce.length; j++) z += ce[j][catIdx[t * ce.length + j]];
        p = sigmoid(z);
      }
      if (hod || dow) p *= season((arms[a].slot >= 0 ? arms[a].slot : roundHow) + off);
      if (invalid) p = 0;
      p = p < 0 ? 0 : Math.min(p, 1);
      mu[t * K + a] = p;
      eobj[a] = p * kVal[a] - kCost[a];
    }
    let b = 0;
    for (let a = 1; a < K; a++) if (eobj[a] > eobj[b]) b = a;
    best[t] = eobj[b];
    bestArm[t] = b;
    sorted.set(eobj);
    sorted.sort();
    worstThreshold[t] = sorted[q];
  }

  let valueZ: Float64Array | null = null;
  if (arms.some((a) => a.valueSigma > 0)) {
    const rv = new Mulberry32(deriveSeed(repSeed, "value"));
    valueZ = new Float64Array(T);
    for (let t = 0; t < T; t++) valueZ[t] = normal(rv);
  }

  let delayRounds: Float64Array | null = null;
  const d = s.delay;
  const windowRounds = Math.ceil(d.attributionWindowHours * s.traffic.perHour);
  if (d.distribution !== "none") {
    const rd = new Mulberry32(deriveSeed(repSeed, "delay"));
    delayRounds = new Float64Array(T);
    const m = Math.log(d.meanHours) - (d.sigma * d.sigma) / 2;
    for (let t = 0; t < T; t++) {
      const hours =
        d.distribution === "exponential" ? -d.meanHours * Math.log(1 - rd.next()) : Math.exp(m + d.sigma * normal(rd));
      delayRounds[t] = hours <= d.attributionWindowHours ? Math.max(1, Math.ceil(hours * s.traffic.perHour)) : Infinity;
    }
  }

  return {
    K,
    T,
    arms,
    objective: s.objective,
    layout,
    u,
    mu,
    muStride,
    kVal,
    kCost,
    best,
    bestArm,
    worstThreshold,
    x,
    valueZ,
    delayRounds,
    windowRounds,
    windowHours: d.attributionWindowHours,
    perHour: s.traffic.perHour,
    pAttributed,
    fraud,
  };
}
