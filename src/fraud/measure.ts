/**
 * Detection rate and false-flag rate of the fraud detectors over seeded repetitions of synthetic traffic
 * (synthetic.ts): each pattern is injected alone into a fresh run; a run counts as detected when the
 * expected detector flags the injected entity. False flags are flags on entities the injection did not
 * touch, over all runs (clean runs included), per entity type. A conversion-only orphan finding whose
 * conversions merely follow clicks another finding invalidated ("invalid_click") is a consequence, not a flag.
 *
 *   npx tsx src/fraud/measure.ts --reps 50 --seed 1                 # the 12 patterns, 6 publishers × 2 placements
 *   npx tsx src/fraud/measure.ts --few --reps 40 --seed 1           # 2, 3, 5, 8, 50 publishers; cold start
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx src/fraud/measure.ts --timing --events 1000000
 *   npx tsx src/fraud/measure.ts --reps 10 --seed 1 --pseudonymise   # on the stored forms (src/privacy)
 *
 * `--pseudonymise` runs the detectors on what the service stores by default: IPs truncated (/24, /48) and
 * keyed-hashed, user agents as bot class + keyed hash (src/privacy/pseudonym.ts); entities, taints and the
 * expected finding are mapped the same way (a network holding an injected ip is tainted as a whole).
 */
import { Command } from "commander";
import { aggregateTraffic, summaryOf, workspacePriorOf, type WorkspacePrior } from "./aggregates.ts";
import { coveredEvents, DETECTION_DEFAULTS, detectAll, windowsOf } from "./detect.ts";
import { followsInvalidClicks } from "./detectors/orphan-conversions.ts";
import { conversionLinks } from "./links.ts";
import {
  FRAUD_PATTERNS,
  generateTraffic,
  type FraudPattern,
  type SyntheticOptions,
  type SyntheticTraffic,
} from "./synthetic.ts";
import type { Finding } from "./types.ts";
import { pseudonymiseIp, pseudonymiseUserAgent, type WorkspacePrivacy } from "../privacy/pseudonym.ts";

/** The synthetic run as the service stores it by default: ip and user agent pseudonymised. */
export function pseudonymiseRun(run: SyntheticTraffic, ws: WorkspacePrivacy): SyntheticTraffic {
  const ip = (v: string) => pseudonymiseIp(ws, v);
  const ua = (v: string) => pseudonymiseUserAgent(ws, v);
  const map = (type: string, v: string) => (type === "ip" ? ip(v) : type === "user_agent" ? ua(v) : v);
  const events = run.events.map((e) => ({
    ...e,
    ip: e.ip === null ? null : ip(e.ip),
    userAgent: e.userAgent === null ? null : ua(e.userAgent),
  }));
  const tainted = new Set(
    [...run.tainted].map((k) => {
      const i = k.indexOf(":");
      return `${k.slice(0, i)}:${map(k.slice(0, i), k.slice(i + 1))}`;
    }),
  );
  const entities = Object.fromEntries(
    Object.entries(run.entities).map(([t, set]) => [
      t,
      new Set([...set].map((v) => map(t, v)).filter((v) => !tainted.has(`${t}:${v}`))),
    ]),
  ) as SyntheticTraffic["entities"];
  const expected = run.expected && { ...run.expected, entity: map(run.expected.entityType, run.expected.entity) };
  return { ...run, events, tainted, entities, expected };
}

const MEASURE_WORKSPACE: WorkspacePrivacy = { id: "measure", secret: "measure-secret", rawIdentifiers: false };

export interface Measurement {
  /** detected: by the detector meant for the pattern; flagged: the injected entity flagged by any detector. */
  detection: { pattern: FraudPattern; runs: number; detected: number; flagged: number }[];
  falseFlags: { entityType: string; flagged: number; clean: number; byDetector: Record<string, number> }[];
}

export function measure(
  reps: number,
  seed: number,
  traffic: Partial<SyntheticOptions> = {},
  pseudonymise = false,
): Measurement {
  const types = ["ip", "user_agent", "publisher", "placement"] as const;
  const ff = Object.fromEntries(
    types.map((t) => [t, { flagged: 0, clean: 0, byDetector: {} as Record<string, number> }]),
  );
  const detection: Measurement["detection"] = [];
  for (const pattern of [null, ...FRAUD_PATTERNS]) {
    let detected = 0;
    let flagged = 0;
    for (let r = 0; r < reps; r++) {
      const generated = generateTraffic({
        ...traffic,
        seed: seed * 100_003 + r * 131 + (pattern ? FRAUD_PATTERNS.indexOf(pattern) + 1 : 0),
        fraud: pattern,
      });
      const run = pseudonymise ? pseudonymiseRun(generated, MEASURE_WORKSPACE) : generated;
      const findings = detectAll(run.events, conversionLinks(run.events, run.decisions), run.end);
      const x = run.expected;
      if (
        x &&
        findings.some((f) => f.detector === x.detector && f.entityType === x.entityType && f.entity === x.entity)
      )
        detected++;
      if (x && findings.some((f) => f.entityType === x.entityType && f.entity === x.entity)) flagged++;
      for (const t of types) ff[t].clean += run.entities[t].size;
      const seen = new Set<string>();
      for (const f of findings) {
        if (f.entityType === "campaign" || followsInvalidClicks(f)) continue;
        const key = `${f.entityType}:${f.entity}`;
        if (run.tainted.has(key)) continue;
        const slot = ff[f.entityType];
        slot.byDetector[f.detector] = (slot.byDetector[f.detector] ?? 0) + 1;
        if (seen.has(key)) continue;
        seen.add(key);
        slot.flagged++;
      }
    }
    if (pattern) detection.push({ pattern, runs: reps, detected, flagged });
  }
  return { detection, falseFlags: types.map((t) => ({ entityType: t, ...ff[t] })) };
}

/** The workspace prior a campaign would get from one other (clean, 6 × 2 entities) campaign of the workspace. */
export function priorFromOtherCampaign(seed: number, traffic: Partial<SyntheticOptions> = {}): WorkspacePrior {
  const other = generateTraffic({ ...traffic, publishers: 6, placementsPerPublisher: 2, seed, fraud: null });
  const agg = aggregateTraffic(
    other.events,
    conversionLinks(other.events, other.decisions),
    windowsOf(other.end, DETECTION_DEFAULTS),
  );
  const s = summaryOf(agg);
  return workspacePriorOf(s.exposure, s.entities)!;
}

export interface FewEntityRow {
  publishers: number;
  pattern: FraudPattern | "clean";
  prior: boolean;
  runs: number;
  /** Found by its detector on the injected entity. */
  detected: number;
  honestPublishers: number;
  /** Honest publishers flagged by any detector (as publisher or as its placement). */
  falselyFlagged: number;
  honestEvents: number;
  honestEventsInvalidated: number;
  /** Events of the tainted publisher invalidated, and the injected events among them. */
  taintedEventsInvalidated: number;
}

/** Traffic of a campaign with few publishers (one placement each) and what its scan finds. */
export function measureFewEntities(
  reps: number,
  seed: number,
  opts: {
    publishers: readonly number[];
    patterns: readonly (FraudPattern | null)[];
    prior: boolean;
    traffic?: Partial<SyntheticOptions>;
  },
): FewEntityRow[] {
  const out: FewEntityRow[] = [];
  for (const k of opts.publishers)
    for (const pattern of opts.patterns) {
      const row: FewEntityRow = {
        publishers: k,
        pattern: pattern ?? "clean",
        prior: opts.prior,
        runs: 0,
        detected: 0,
        honestPublishers: 0,
        falselyFlagged: 0,
        honestEvents: 0,
        honestEventsInvalidated: 0,
        taintedEventsInvalidated: 0,
      };
      for (let r = 0; r < reps; r++) {
        const s = seed * 100_003 + r * 131 + k * 7 + (pattern ? FRAUD_PATTERNS.indexOf(pattern) + 1 : 0);
        const run = generateTraffic({
          ...opts.traffic,
          seed: s,
          publishers: k,
          placementsPerPublisher: 1,
          fraud: pattern,
        });
        const prior = opts.prior ? priorFromOtherCampaign(s + 77, opts.traffic) : undefined;
        const findings = detectAll(
          run.events,
          conversionLinks(run.events, run.decisions),
          run.end,
          DETECTION_DEFAULTS,
          prior,
        );
        tally(row, run, findings);
      }
      out.push(row);
    }
  return out;
}

function tally(row: FewEntityRow, run: SyntheticTraffic, findings: Finding[]): void {
  row.runs++;
  const x = run.expected;
  if (x && findings.some((f) => f.detector === x.detector && f.entityType === x.entityType && f.entity === x.entity))
    row.detected++;
  const flagged = new Set<string>();
  for (const f of findings) {
    if (followsInvalidClicks(f)) continue;
    if (f.entityType === "publisher") flagged.add(f.entity);
    if (f.entityType === "placement") flagged.add(f.entity.split("/")[0]);
  }
  const honest = [...run.entities.publisher];
  row.honestPublishers += honest.length;
  row.falselyFlagged += honest.filter((p) => flagged.has(p)).length;
  const invalid = coveredEvents(run.events, findings);
  const honestSet = new Set(honest);
  for (const e of run.events) {
    if (e.publisher === null) continue;
    const isHonest = honestSet.has(e.publisher);
    if (isHonest) row.honestEvents++;
    if (!invalid.has(e.id)) continue;
    if (isHonest) row.honestEventsInvalidated++;
    else row.taintedEventsInvalidated++;
  }
}

export interface ColdStartRow {
  pattern: FraudPattern | "clean";
  prior: boolean;
  minutes: number;
  runs: number;
  detected: number;
  /** Clean entities (ips, publishers, placements) flagged, over all clean entity-runs. */
  falselyFlagged: number;
  cleanEntities: number;
}

/** A campaign `minutes` old (no history before): is a burst in its first hour caught, and at what cost? */
export function measureColdStart(
  reps: number,
  seed: number,
  opts: {
    minutes: number;
    patterns: readonly (FraudPattern | null)[];
    prior: boolean;
    traffic?: Partial<SyntheticOptions>;
  },
): ColdStartRow[] {
  const out: ColdStartRow[] = [];
  for (const pattern of opts.patterns) {
    const row: ColdStartRow = {
      pattern: pattern ?? "clean",
      prior: opts.prior,
      minutes: opts.minutes,
      runs: 0,
      detected: 0,
      falselyFlagged: 0,
      cleanEntities: 0,
    };
    for (let r = 0; r < reps; r++) {
      const s = seed * 100_003 + r * 131 + 9_001 + (pattern ? FRAUD_PATTERNS.indexOf(pattern) + 1 : 0);
      const run = generateTraffic({ ...opts.traffic, seed: s, minutes: opts.minutes, fraud: pattern });
      const prior = opts.prior ? priorFromOtherCampaign(s + 77, opts.traffic) : undefined;
      const findings = detectAll(
        run.events,
        conversionLinks(run.events, run.decisions),
        run.end,
        DETECTION_DEFAULTS,
        prior,
      );
      row.runs++;
      const x = run.expected;
      if (
        x &&
        findings.some((f) => f.detector === x.detector && f.entityType === x.entityType && f.entity === x.entity)
      )
        row.detected++;
      const seen = new Set<string>();
      for (const f of findings) {
        if (f.entityType === "campaign" || followsInvalidClicks(f)) continue;
        const key = `${f.entityType}:${f.entity}`;
        if (!run.tainted.has(key) && f.entityType !== "user_agent") seen.add(key);
      }
      row.falselyFlagged += seen.size;
      row.cleanEntities += run.entities.ip.size + run.entities.publisher.size + run.entities.placement.size;
    }
    out.push(row);
  }
  return out;
}

function pct(a: number, b: number): string {
  return b === 0 ? "–" : `${((100 * a) / b).toFixed(a === 0 || a === b ? 0 : 2)}%`;
}

function printMain(reps: number, seed: number, pseudonymise: boolean): void {
  const t0 = performance.now();
  const m = measure(reps, seed, {}, pseudonymise);
  console.log(
    `| injected pattern | runs | found by its detector | detection rate | flagged by any detector |\n|---|--:|--:|--:|--:|`,
  );
  for (const d of m.detection)
    console.log(
      `| ${d.pattern} | ${d.runs} | ${d.detected} | ${pct(d.detected, d.runs)} | ${pct(d.flagged, d.runs)} |`,
    );
  console.log(
    `\n| clean entity type | clean entity-runs | falsely flagged | false-flag rate | by detector |\n|---|--:|--:|--:|---|`,
  );
  for (const f of m.falseFlags)
    console.log(
      `| ${f.entityType} | ${f.clean} | ${f.flagged} | ${pct(f.flagged, f.clean)} | ${
        Object.entries(f.byDetector)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ") || "–"
      } |`,
    );
  console.log(`\n${(FRAUD_PATTERNS.length + 1) * reps} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const FEW_PATTERNS: (FraudPattern | null)[] = [null, "ip_burst", "ctr_high", "impression_stacking", "conversion_fraud"];

function printFew(reps: number, seed: number, minutes: number): void {
  const t0 = performance.now();
  const traffic = { minutes, ipBurstClicks: 120, ipBurstSeconds: 40 };
  const rows = [
    ...measureFewEntities(reps, seed, { publishers: [2, 3, 5, 8, 50], patterns: FEW_PATTERNS, prior: false, traffic }),
    ...measureFewEntities(reps, seed, { publishers: [2, 3], patterns: FEW_PATTERNS, prior: true, traffic }),
  ];
  console.log(
    `| publishers | workspace prior | injected | runs | detected | honest publishers flagged | honest events invalidated | events of the injected publisher invalidated |\n|--:|---|---|--:|--:|--:|--:|--:|`,
  );
  for (const r of rows)
    console.log(
      `| ${r.publishers} | ${r.prior ? "yes" : "no"} | ${r.pattern === "ip_burst" ? "ip_burst (120 clicks / 40 s)" : r.pattern} | ${r.runs} | ${
        r.pattern === "clean" ? "–" : `${r.detected} (${pct(r.detected, r.runs)})`
      } | ${r.falselyFlagged} / ${r.honestPublishers} (${pct(r.falselyFlagged, r.honestPublishers)}) | ${r.honestEventsInvalidated} / ${r.honestEvents} | ${r.taintedEventsInvalidated} |`,
    );
  const cold = [
    ...measureColdStart(reps, seed, {
      minutes: 45,
      patterns: [null, "ip_burst", "publisher_burst"],
      prior: false,
      traffic,
    }),
    ...measureColdStart(reps, seed, {
      minutes: 45,
      patterns: [null, "ip_burst", "publisher_burst"],
      prior: true,
      traffic,
    }),
  ];
  console.log(
    `\n| cold start (campaign 45 min old) | workspace prior | runs | detected | clean sources flagged (ip, publisher, placement) |\n|---|---|--:|--:|--:|`,
  );
  for (const r of cold)
    console.log(
      `| ${r.pattern === "ip_burst" ? "ip_burst (120 clicks / 40 s)" : r.pattern} | ${r.prior ? "yes" : "no"} | ${r.runs} | ${
        r.pattern === "clean" ? "–" : `${r.detected} (${pct(r.detected, r.runs)})`
      } | ${r.falselyFlagged} / ${r.cleanEntities} (${pct(r.falselyFlagged, r.cleanEntities)}) |`,
    );
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = new Command()
    .option("--reps <n>", "repetitions per pattern", "50")
    .option("--seed <n>", "base seed", "1")
    .option("--few", "few-entity and cold-start scenarios")
    .option("--minutes <n>", "minutes of traffic per few-entity run", "180")
    .option("--timing", "time a scan over a day of --events events on PostgreSQL (DATABASE_URL)")
    .option("--events <n>", "events for --timing", "1000000")
    .option("--pseudonymise", "run the detectors on pseudonymised ips and user agents (the stored forms)")
    .parse()
    .opts<{
      reps: string;
      seed: string;
      few?: boolean;
      minutes: string;
      timing?: boolean;
      events: string;
      pseudonymise?: boolean;
    }>();
  if (opts.timing) {
    void import("./bench-scan.ts").then(({ timeScan }) => timeScan(Number(opts.events), Number(opts.seed)));
  } else if (opts.few) printFew(Number(opts.reps), Number(opts.seed), Number(opts.minutes));
  else printMain(Number(opts.reps), Number(opts.seed), opts.pseudonymise === true);
}
