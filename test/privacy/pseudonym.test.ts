/** The pure pseudonymisation functions: truncation, keyed hashing, bot classes (src/privacy/pseudonym.ts). */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { classifyUserAgent } from "../../src/fraud/user-agents.ts";
import {
  pseudonymiseEntity,
  pseudonymiseIp,
  pseudonymiseSource,
  pseudonymiseUnit,
  pseudonymiseUserAgent,
  sourcePseudonymiser,
  truncateIp,
  unitHash,
} from "../../src/privacy/pseudonym.ts";

const a = { id: "w1", secret: "a".repeat(64), rawIdentifiers: false };
const b = { id: "w2", secret: "b".repeat(64), rawIdentifiers: false };
const raw = { ...a, rawIdentifiers: true };
const CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

describe("unit ids", () => {
  it("are HMAC-SHA-256 under the workspace secret (the closed form), different per workspace", () => {
    const expected = createHmac("sha256", a.secret).update("unit\u0000user-42").digest("hex");
    expect(unitHash(a, "user-42")).toBe(expected);
    expect(unitHash(b, "user-42")).not.toBe(expected);
    expect(unitHash(a, "user-43")).not.toBe(expected);
    expect(pseudonymiseUnit(a, "user-42")).toEqual({ unitHash: expected, unitId: null });
  });
  it("keep the raw id beside the hash only when the workspace stores raw identifiers", () => {
    expect(pseudonymiseUnit(raw, "user-42")).toEqual({ unitHash: unitHash(a, "user-42"), unitId: "user-42" });
  });
});

describe("IP addresses", () => {
  it("are truncated to the /24 (IPv4) and the /48 (IPv6)", () => {
    expect(truncateIp("198.51.100.28")).toBe("198.51.100.0/24");
    expect(truncateIp("2001:db8:85a3:8d3:1319:8a2e:370:7348")).toBe("2001:db8:85a3::/48");
    expect(truncateIp("2001:db8::1")).toBe("2001:db8:0::/48");
    expect(truncateIp("2001:0db8:0000::ff")).toBe(truncateIp("2001:db8::1"));
    expect(truncateIp("::ffff:198.51.100.7")).toBe("198.51.100.0/24");
    expect(truncateIp("not an ip")).toBe("not an ip");
  });
  it("hash one network to one pseudonym, another network (or workspace) to another", () => {
    const p = pseudonymiseIp(a, "198.51.100.28");
    expect(p).toMatch(/^ip:[A-Za-z0-9_-]{22}$/);
    expect(pseudonymiseIp(a, "198.51.100.200")).toBe(p);
    expect(pseudonymiseIp(a, "198.51.101.28")).not.toBe(p);
    expect(pseudonymiseIp(b, "198.51.100.28")).not.toBe(p);
    expect(p).not.toContain("198.51");
    // idempotent: a stored pseudonym (e.g. from a finding) stays itself
    expect(pseudonymiseIp(a, p)).toBe(p);
    expect(pseudonymiseIp(raw, "198.51.100.28")).toBe("198.51.100.28");
  });
});

describe("user agents", () => {
  it("keep the bot class the detectors need, and a keyed hash", () => {
    const browser = pseudonymiseUserAgent(a, CHROME);
    expect(browser).toMatch(/^ua:[A-Za-z0-9_-]{22}$/);
    expect(classifyUserAgent(browser)).toEqual({ bot: false });
    const bot = pseudonymiseUserAgent(a, "Googlebot/2.1 (+http://www.google.com/bot.html)");
    expect(bot.startsWith("bot:isbot:")).toBe(true);
    expect(classifyUserAgent(bot)).toEqual(classifyUserAgent("Googlebot/2.1 (+http://www.google.com/bot.html)"));
    expect(classifyUserAgent(pseudonymiseUserAgent(a, "curl/8.4.0")).match).toBe(classifyUserAgent("curl/8.4.0").match);
    expect(pseudonymiseUserAgent(a, `${CHROME} x`)).not.toBe(browser);
    expect(pseudonymiseUserAgent(a, browser)).toBe(browser);
  });
  it("sources: ip and user agent pseudonymised, publisher and placement kept", () => {
    const s = pseudonymiseSource(a, { ip: "203.0.113.9", userAgent: CHROME, publisher: "p1", placement: "x" });
    expect(s).toEqual({
      ip: pseudonymiseIp(a, "203.0.113.9"),
      userAgent: pseudonymiseUserAgent(a, CHROME),
      publisher: "p1",
      placement: "x",
    });
    expect(pseudonymiseEntity(a, "publisher", "p1")).toBe("p1");
    expect(pseudonymiseEntity(a, "ip", "203.0.113.1")).toBe(s.ip);
  });
  it("a batch's pseudonymiser gives what pseudonymiseSource gives, per workspace, raw where allowed", () => {
    const sources = [
      { ip: "203.0.113.9", userAgent: CHROME },
      { ip: "203.0.113.200", userAgent: "curl/8.4.0", publisher: "p1" },
      { ip: "203.0.113.9", userAgent: CHROME, placement: "x" },
      { ip: "2001:db8::1" },
      { userAgent: CHROME },
      { publisher: "p2" },
      {},
    ];
    for (const ws of [a, b, raw]) {
      const batch = sourcePseudonymiser(ws);
      for (const src of sources) expect(batch(src)).toEqual(pseudonymiseSource(ws, src));
    }
    // one memo per batch and workspace: b's pseudonymiser does not answer with a's hashes
    expect(sourcePseudonymiser(b)(sources[0]!).ip).not.toBe(sourcePseudonymiser(a)(sources[0]!).ip);
    expect(sourcePseudonymiser(raw)(sources[0]!)).toEqual(sources[0]);
  });
});
