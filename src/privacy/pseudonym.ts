/**
 * Pseudonymous identifiers (pure: no I/O). Everything that stores or compares a unit id, an IP address
 * or a user agent goes through these functions, so one workspace's values always map to the same
 * pseudonyms and nothing raw is stored unless the workspace allows it (`rawIdentifiers`).
 *
 * - unit id → HMAC-SHA-256(workspace secret, "unit\0" + id), hex (`unit_hash`); the raw id is kept
 *   beside it only when the workspace stores raw identifiers;
 * - IP → truncated (IPv4 /24, IPv6 /48: what a network, not a person, has in common), then
 *   `ip:` + HMAC(secret, "ip\0" + network), 128 bits base64url;
 * - user agent → what the detectors need: its bot class (fraud/user-agents.ts) and a keyed hash
 *   to tell agents apart — `ua:<hash>` for a browser, `bot:<what matched>#<hash>` for a declared bot.
 *
 * The secret never leaves the server: it is generated at workspace creation (or by the migration for
 * older workspaces) and read only by `keys.ts`. Domain prefixes keep a unit id equal to an IP text from
 * hashing to the same value. HMAC via node:crypto (OpenSSL): ~1–2 µs per call, cheap next to a decision.
 */
import { createHmac, createSecretKey, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { classifyUserAgent } from "../fraud/user-agents.ts";

/** What pseudonymisation needs to know about a workspace (keys.ts loads and caches it). */
export interface WorkspacePrivacy {
  id: string;
  /** The per-workspace HMAC key (never returned by the API). */
  secret: string;
  /** Store raw unit ids, IPs and user agents (off by default). */
  rawIdentifiers: boolean;
}

// One KeyObject per secret: createHmac with a string key re-imports the key at every call (measured
// ~3× slower on this path, bench/privacy.ts).
const keys = new Map<string, KeyObject>();
const keyOf = (secret: string) => {
  let k = keys.get(secret);
  if (!k) {
    if (keys.size >= 10_000) keys.clear();
    keys.set(secret, (k = createSecretKey(Buffer.from(secret, "utf8"))));
  }
  return k;
};

const hmac = (secret: string, domain: string, value: string) =>
  createHmac("sha256", keyOf(secret)).update(`${domain}\u0000${value}`);

/** The unit's keyed hash, and its raw id only when the workspace stores raw identifiers. */
export function pseudonymiseUnit(ws: WorkspacePrivacy, unitId: string): { unitHash: string; unitId: string | null } {
  return { unitHash: unitHash(ws, unitId), unitId: ws.rawIdentifiers ? unitId : null };
}

/** HMAC-SHA-256 of a unit id under the workspace's secret, hex: what `decisions.unit_hash` holds. */
export function unitHash(ws: WorkspacePrivacy, unitId: string): string {
  return hmac(ws.secret, "unit", unitId).digest("hex");
}

const short = (secret: string, domain: string, value: string) =>
  hmac(secret, domain, value).digest().subarray(0, 16).toString("base64url");

/** The network an IP belongs to (IPv4 /24, IPv6 /48), canonical text; anything else is returned lower-cased. */
export function truncateIp(ip: string): string {
  const v = ip.trim();
  const kind = isIP(v);
  if (kind === 4) return `${v.split(".").slice(0, 3).join(".")}.0/24`;
  if (kind === 6) {
    // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v);
    if (mapped) return truncateIp(mapped[1]);
    return `${expandIpv6(v).slice(0, 3).join(":")}::/48`;
  }
  return v.toLowerCase();
}

function expandIpv6(v: string): string[] {
  const s = v.split("%")[0].toLowerCase();
  let parts: string[];
  if (s.includes("::")) {
    const [head, tail] = s.split("::");
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    parts = [...h, ...new Array(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t];
  } else parts = s.split(":");
  return parts.map((p) => (p.includes(".") ? p : String(Number.parseInt(p || "0", 16).toString(16))));
}

const isIpPseudonym = (v: string) => v.startsWith("ip:");
const isUaPseudonym = (v: string) => v.startsWith("ua:") || v.startsWith("bot:");

/** What `events.source_ip` holds: `ip:<keyed hash of the /24 or /48>` (raw when the workspace allows). */
export function pseudonymiseIp(ws: WorkspacePrivacy, ip: string): string {
  if (ws.rawIdentifiers || isIpPseudonym(ip)) return ip;
  return `ip:${short(ws.secret, "ip", truncateIp(ip))}`;
}

// Few distinct user agents carry most traffic: their bot class (a long regex list) is cached.
const verdicts = new Map<string, { bot: boolean; match?: string }>();
function uaClass(ua: string): { bot: boolean; match?: string } {
  let v = verdicts.get(ua);
  if (!v) {
    if (verdicts.size >= 50_000) verdicts.clear();
    verdicts.set(ua, (v = classifyUserAgent(ua)));
  }
  return v;
}

/** What `events.source_user_agent` holds: its bot class and a keyed hash (raw when the workspace allows). */
export function pseudonymiseUserAgent(ws: WorkspacePrivacy, ua: string): string {
  if (ws.rawIdentifiers || isUaPseudonym(ua)) return ua;
  const v = uaClass(ua);
  const h = short(ws.secret, "ua", ua);
  return v.bot ? `bot:${v.match}#${h}` : `ua:${h}`;
}

/** An event source as stored: ip and user agent pseudonymised, publisher and placement kept (no person). */
export function pseudonymiseSource<S extends { ip?: string; userAgent?: string }>(ws: WorkspacePrivacy, s: S): S {
  if (ws.rawIdentifiers || (s.ip === undefined && s.userAgent === undefined)) return s;
  const out = { ...s };
  if (s.ip !== undefined) out.ip = pseudonymiseIp(ws, s.ip);
  if (s.userAgent !== undefined) out.userAgent = pseudonymiseUserAgent(ws, s.userAgent);
  return out;
}

/**
 * `pseudonymiseSource` for the events of one batch: each distinct IP network and user agent is hashed once (a
 * batch's events mostly share a few of each; one HMAC is ~1–2 µs alone but far more under load, and an
 * event carries two). The memo lives as long as the function, i.e. the batch: no raw IP outlives it.
 */
export function sourcePseudonymiser(ws: WorkspacePrivacy): <S extends { ip?: string; userAgent?: string }>(s: S) => S {
  if (ws.rawIdentifiers) return (s) => s;
  const ips = new Map<string, string>();
  const uas = new Map<string, string>();
  return (s) => {
    if (s.ip === undefined && s.userAgent === undefined) return s;
    const out = { ...s };
    if (s.ip !== undefined && !isIpPseudonym(s.ip)) {
      // by network: the addresses of one /24 (or /48) share their pseudonym
      const net = truncateIp(s.ip);
      let v = ips.get(net);
      if (v === undefined) ips.set(net, (v = `ip:${short(ws.secret, "ip", net)}`));
      out.ip = v;
    }
    if (s.userAgent !== undefined) {
      let v = uas.get(s.userAgent);
      if (v === undefined) uas.set(s.userAgent, (v = pseudonymiseUserAgent(ws, s.userAgent)));
      out.userAgent = v;
    }
    return out;
  };
}

/** The stored form of a blocklist entity (what the gate and the retroactive block compare with events). */
export function pseudonymiseEntity(ws: WorkspacePrivacy, type: string, entity: string): string {
  if (type === "ip") return pseudonymiseIp(ws, entity);
  if (type === "user_agent") return pseudonymiseUserAgent(ws, entity);
  return entity;
}
