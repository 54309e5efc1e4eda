/**
 * Seeded synthetic ad traffic with injectable fraud, for the detector tests and measure.ts.
 *
 * Clean traffic: Poisson impressions per minute with a ±30% swing over the run; publishers and placements
 * with log-normally dispersed CTR and CVR (heterogeneous, like real inventory); users with a fixed browser
 * user agent; clicks seconds after the impression (1% legit re-clicks minutes later); conversions log-normally
 * delayed (median 15 min); log-normal order values. Each impression is one decision.
 * Fraud patterns are added on top, each into named entities, and the run reports which entities the
 * injection touched ("tainted", excluded from false-flag counts) and which detector should find what.
 */
import { Mulberry32, type Rng } from "../../strategies/rng.ts";
import { sampleNormal } from "../reports/stats.ts";
import type { DecisionRef, EntityType, TrafficEvent } from "./types.ts";

export const FRAUD_PATTERNS = [
  "declared_bot",
  "duplicate_click",
  "ip_burst",
  "publisher_burst",
  "ctr_high",
  "impression_stacking",
  "click_spam",
  "conversion_fraud",
  "revenue_inflation",
  "click_injection",
  "click_flooding",
  "orphan_conversion",
] as const;
export type FraudPattern = (typeof FRAUD_PATTERNS)[number];

export interface SyntheticOptions {
  seed: number;
  start: number;
  minutes: number;
  impressionsPerMinute: number;
  publishers: number;
  placementsPerPublisher: number;
  users: number;
  fraud: FraudPattern | null;
  /** ip_burst: clicks from the one ip, and over how many seconds (the reported case: 120 in 40 s). */
  ipBurstClicks: number;
  ipBurstSeconds: number;
}

export const SYNTHETIC_DEFAULTS: SyntheticOptions = {
  seed: 1,
  start: Date.UTC(2026, 0, 5, 0, 0),
  minutes: 360,
  impressionsPerMinute: 300,
  publishers: 6,
  placementsPerPublisher: 2,
  users: 4000,
  fraud: null,
  ipBurstClicks: 25,
  ipBurstSeconds: 29,
};

export interface Expected {
  detector: string;
  entityType: EntityType;
  entity: string;
}

export interface SyntheticTraffic {
  events: TrafficEvent[];
  decisions: DecisionRef[];
  /** End of the run: scan with now = end. */
  end: number;
  expected: Expected | null;
  /** Entities (type:value) touched by the injection: flags on them are not false flags. */
  tainted: Set<string>;
  /** Clean entities of each type present in the run. */
  entities: Record<"ip" | "user_agent" | "publisher" | "placement", Set<string>>;
}

const BROWSERS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
  "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
];
const BOTS = [
  "python-requests/2.31.0",
  "curl/8.4.0",
  "Go-http-client/1.1",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

function poisson(lambda: number, rng: Rng): number {
  if (lambda > 50) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * sampleNormal(rng)));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= rng.next();
    if (p <= l) return k;
    k++;
  }
}
const exponential = (mean: number, rng: Rng) => -mean * Math.log(1 - rng.next());
const pick = <T>(xs: readonly T[], rng: Rng): T => xs[Math.floor(rng.next() * xs.length)];

export function generateTraffic(options: Partial<SyntheticOptions> = {}): SyntheticTraffic {
  const o = { ...SYNTHETIC_DEFAULTS, ...options };
  const rng = new Mulberry32(o.seed);
  const end = o.start + o.minutes * 60_000;
  const events: TrafficEvent[] = [];
  const decisions: DecisionRef[] = [];
  let seq = 0;
  const id = () => `e${++seq}`;

  const pubs = Array.from({ length: o.publishers }, (_, i) => ({
    name: `pub-${i}`,
    weight: Math.exp(0.3 * sampleNormal(rng)),
    ctr: 0.03 * Math.exp(0.25 * sampleNormal(rng)),
    cvr: 0.12 * Math.exp(0.25 * sampleNormal(rng)),
    valueFactor: Math.exp(0.1 * sampleNormal(rng)),
    placements: Array.from({ length: o.placementsPerPublisher }, (_, j) => ({
      name: `pub-${i}/pl-${j}`,
      ctrFactor: Math.exp(0.15 * sampleNormal(rng)),
    })),
  }));
  const totalWeight = pubs.reduce((s, p) => s + p.weight, 0);
  const users = Array.from({ length: o.users }, (_, i) => ({
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    ua: pick(BROWSERS, rng),
  }));
  const pickPub = () => {
    let u = rng.next() * totalWeight;
    for (const p of pubs) if ((u -= p.weight) < 0) return p;
    return pubs[pubs.length - 1];
  };

  const fraudPub = pubs[Math.floor(rng.next() * pubs.length)];
  const fraudPlacement = fraudPub.placements[0];
  const tainted = new Set<string>();
  let expected: Expected | null = null;
  const taint = (t: string, v: string) => tainted.add(`${t}:${v}`);

  // Per-publisher conversion behaviour under the injected pattern.
  const cvrFactor = (p: (typeof pubs)[number]) => (p === fraudPub && o.fraud === "conversion_fraud" ? 4 : 1);
  const delayOf = (p: (typeof pubs)[number]): number => {
    if (p === fraudPub && o.fraud === "click_injection" && rng.next() < 0.4) return 1 + 7 * rng.next();
    if (p === fraudPub && o.fraud === "click_flooding") return rng.next() * o.minutes * 60;
    return 900 * Math.exp(sampleNormal(rng));
  };
  const revenueOf = (p: (typeof pubs)[number]) =>
    40 *
    p.valueFactor *
    Math.exp(0.6 * sampleNormal(rng)) *
    (p === fraudPub && o.fraud === "revenue_inflation" ? 4 : 1);

  interface Src {
    ip: string;
    ua: string;
  }
  /** One impression (= decision), maybe clicked, maybe converted. Returns the decision id. */
  const impression = (
    t: number,
    pub: (typeof pubs)[number],
    pl: (typeof pubs)[number]["placements"][number],
    src: Src,
    clickP: number,
  ): string => {
    const d = `d${++seq}`;
    decisions.push({ id: d, createdAt: t - 500 });
    const base = { decisionId: d, ip: src.ip, userAgent: src.ua, publisher: pub.name, placement: pl.name };
    events.push({ id: id(), type: "impression", occurredAt: t, value: 0, cost: 0.002, ...base });
    if (rng.next() >= clickP) return d;
    const tc = t + exponential(20_000, rng);
    if (tc >= end) return d;
    events.push({ id: id(), type: "click", occurredAt: tc, value: 0, cost: 0.4, ...base });
    if (rng.next() < 0.01) {
      const again = tc + 60_000 + rng.next() * 540_000;
      if (again < end) events.push({ id: id(), type: "click", occurredAt: again, value: 0, cost: 0.4, ...base });
    }
    // Spam clicks (all but 1 in 6 on the spammed publisher) come from no person and never convert.
    const spam = pub === fraudPub && o.fraud === "click_spam" && rng.next() < 5 / 6;
    if (!spam && rng.next() < Math.min(1, pub.cvr * cvrFactor(pub))) {
      const tv = tc + delayOf(pub) * 1000;
      if (tv < end)
        events.push({
          id: id(),
          type: "conversion",
          occurredAt: tv,
          value: revenueOf(pub),
          cost: 0,
          ...base,
          ip: null,
          userAgent: "advertiser-postback/1.0",
        });
    }
    return d;
  };

  for (let m = 0; m < o.minutes; m++) {
    const rate = o.impressionsPerMinute * (1 + 0.3 * Math.sin((2 * Math.PI * m) / o.minutes));
    const n = poisson(rate, rng);
    for (let i = 0; i < n; i++) {
      const t = o.start + (m + rng.next()) * 60_000;
      const pub = pickPub();
      const pl = pick(pub.placements, rng);
      let clickP = pub.ctr * pl.ctrFactor;
      if (pub === fraudPub && o.fraud === "click_spam") clickP *= 6;
      if (pl === fraudPlacement && o.fraud === "ctr_high") clickP *= 5;
      impression(t, pub, pl, pick(users, rng), clickP);
      if (pl === fraudPlacement && o.fraud === "impression_stacking") {
        // Ads stacked under this one: 4 more impressions nobody sees, never clicked.
        for (let s = 0; s < 4; s++) impression(t, pub, pl, pick(users, rng), 0);
      }
    }
  }

  // The injections land in the last hour (the whole run when it is shorter: a new campaign).
  const lastHour = Math.max(o.start, end - 60 * 60_000);
  const lastMinutes = Math.max(1, Math.min(60, o.minutes) - 2);
  const inLastHour = () => lastHour + rng.next() * (lastMinutes + 1) * 60_000;
  switch (o.fraud) {
    case "declared_bot": {
      const src = { ip: "203.0.113.7", ua: BOTS[o.seed % BOTS.length] };
      for (let i = 0; i < 100; i++) {
        const p = pickPub();
        impression(inLastHour(), p, pick(p.placements, rng), src, 0.3);
      }
      expected = { detector: "declared_bot", entityType: "user_agent", entity: src.ua };
      taint("ip", src.ip);
      taint("user_agent", src.ua);
      break;
    }
    case "duplicate_click": {
      const src = { ip: "203.0.113.8", ua: BROWSERS[0] };
      for (let i = 0; i < 10; i++) {
        const p = pickPub();
        const pl = pick(p.placements, rng);
        const d = impression(inLastHour(), p, pl, src, 0);
        const t = inLastHour();
        const reps = 2 + Math.floor(rng.next() * 3);
        for (let r = 0; r < reps; r++)
          events.push({
            id: id(),
            decisionId: d,
            type: "click",
            occurredAt: t + r * (500 + rng.next() * 2000),
            value: 0,
            cost: 0.4,
            ip: src.ip,
            userAgent: src.ua,
            publisher: p.name,
            placement: pl.name,
          });
      }
      expected = { detector: "duplicate_click", entityType: "ip", entity: src.ip };
      taint("ip", src.ip);
      break;
    }
    case "ip_burst": {
      const src = { ip: "198.51.100.9", ua: BROWSERS[1] };
      const t0 = lastHour + Math.floor(rng.next() * lastMinutes) * 60_000;
      const p = fraudPub;
      const pl = fraudPlacement;
      taint("publisher", p.name);
      taint("placement", pl.name);
      for (let i = 0; i < o.ipBurstClicks; i++) {
        const d = impression(t0 + rng.next() * 30_000, p, pl, src, 0);
        events.push({
          id: id(),
          decisionId: d,
          type: "click",
          occurredAt: t0 + 30_000 + rng.next() * o.ipBurstSeconds * 1000,
          value: 0,
          cost: 0.4,
          ip: src.ip,
          userAgent: src.ua,
          publisher: p.name,
          placement: pl.name,
        });
      }
      expected = { detector: "click_burst", entityType: "ip", entity: src.ip };
      taint("ip", src.ip);
      break;
    }
    case "publisher_burst": {
      // A botnet: many fresh IPs, one click each, all in one minute on one publisher.
      const perMinute = (o.impressionsPerMinute * fraudPub.weight * fraudPub.ctr) / totalWeight;
      const extra = Math.max(30, Math.ceil(8 * perMinute));
      const t0 = lastHour + Math.floor(rng.next() * lastMinutes) * 60_000;
      for (let i = 0; i < extra; i++) {
        const src = { ip: `192.0.2.${i % 250}`, ua: pick(BROWSERS, rng) };
        const pl = pick(fraudPub.placements, rng);
        const d = impression(t0 - rng.next() * 30_000, fraudPub, pl, src, 0);
        events.push({
          id: id(),
          decisionId: d,
          type: "click",
          occurredAt: t0 + rng.next() * 59_000,
          value: 0,
          cost: 0.4,
          ip: src.ip,
          userAgent: src.ua,
          publisher: fraudPub.name,
          placement: pl.name,
        });
        taint("ip", src.ip);
      }
      expected = { detector: "click_burst", entityType: "publisher", entity: fraudPub.name };
      for (const pl of fraudPub.placements) taint("placement", pl.name);
      taint("publisher", fraudPub.name);
      break;
    }
    case "ctr_high":
    case "impression_stacking":
      expected = { detector: "ctr_outlier", entityType: "placement", entity: fraudPlacement.name };
      taint("placement", fraudPlacement.name);
      taint("publisher", fraudPub.name);
      break;
    case "click_spam":
      expected = { detector: "conversion_rate_outlier", entityType: "publisher", entity: fraudPub.name };
      taint("publisher", fraudPub.name);
      for (const pl of fraudPub.placements) taint("placement", pl.name);
      break;
    case "conversion_fraud":
      expected = { detector: "conversion_rate_outlier", entityType: "publisher", entity: fraudPub.name };
      taint("publisher", fraudPub.name);
      break;
    case "revenue_inflation":
      expected = { detector: "revenue_outlier", entityType: "publisher", entity: fraudPub.name };
      taint("publisher", fraudPub.name);
      break;
    case "click_injection":
      expected = { detector: "click_injection", entityType: "publisher", entity: fraudPub.name };
      taint("publisher", fraudPub.name);
      break;
    case "click_flooding":
      expected = { detector: "click_flooding", entityType: "publisher", entity: fraudPub.name };
      taint("publisher", fraudPub.name);
      break;
    case "orphan_conversion": {
      // Conversions claimed on impressions: a third stamped before the decision, a third before the click
      // that follows them, a third never clicked (found only when clicks are required).
      for (let i = 0; i < 12; i++) {
        const pl = pick(fraudPub.placements, rng);
        const t = inLastHour();
        const src = pick(users, rng);
        const d = impression(t, fraudPub, pl, src, 0);
        const tv = i % 3 === 0 ? t - 120_000 : t + 300_000 * rng.next();
        if (i % 3 === 1)
          events.push({
            id: id(),
            decisionId: d,
            type: "click",
            occurredAt: Math.min(tv + 60_000, end - 1),
            value: 0,
            cost: 0.4,
            ip: src.ip,
            userAgent: src.ua,
            publisher: fraudPub.name,
            placement: pl.name,
          });
        events.push({
          id: id(),
          decisionId: d,
          type: "conversion",
          occurredAt: Math.min(tv, end - 1),
          value: revenueOf(fraudPub),
          cost: 0,
          ip: null,
          userAgent: "advertiser-postback/1.0",
          publisher: fraudPub.name,
          placement: pl.name,
        });
      }
      expected = { detector: "orphan_conversion", entityType: "publisher", entity: fraudPub.name };
      taint("publisher", fraudPub.name);
      break;
    }
    case null:
      break;
  }

  const entities = {
    ip: new Set<string>(),
    user_agent: new Set<string>(),
    publisher: new Set<string>(),
    placement: new Set<string>(),
  };
  for (const e of events) {
    if (e.type === "conversion") continue;
    if (e.ip && !tainted.has(`ip:${e.ip}`)) entities.ip.add(e.ip);
    if (e.userAgent && !tainted.has(`user_agent:${e.userAgent}`)) entities.user_agent.add(e.userAgent);
    if (e.publisher && !tainted.has(`publisher:${e.publisher}`)) entities.publisher.add(e.publisher);
    if (e.placement && !tainted.has(`placement:${e.placement}`)) entities.placement.add(e.placement);
  }
  events.sort((a, b) => a.occurredAt - b.occurredAt);
  return { events, decisions, end, expected, tainted, entities };
}
