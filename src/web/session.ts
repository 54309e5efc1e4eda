/**
 * Dashboard sessions. Signing in with a workspace API key sets one cookie, `ab_session`: the key sealed with
 * AES-256-GCM under a secret derived from the service's admin key (so every replica opens it, and nobody
 * without the admin key can read or forge one). The cookie is HttpOnly, SameSite=Strict, Secure over HTTPS,
 * and lasts 12 hours. Each request resolves the key again (cached by the service), so a revoked key ends its
 * sessions.
 *
 * CSRF: besides SameSite=Strict, every state-changing request carries a token (form field `_csrf` or
 * header `x-csrf-token`) equal to an HMAC of the session cookie, and a cross-origin `Origin` is refused.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";

export const SESSION_COOKIE = "ab_session";
const MAX_AGE_S = 12 * 3600;

export class Sessions {
  private readonly key: Buffer;
  private readonly mac: Buffer;

  constructor(adminKey: string) {
    this.key = Buffer.from(hkdfSync("sha256", adminKey, "adbandit-dashboard", "session-seal", 32));
    this.mac = Buffer.from(hkdfSync("sha256", adminKey, "adbandit-dashboard", "csrf", 32));
  }

  seal(apiKey: string, now = Date.now()): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([c.update(JSON.stringify({ k: apiKey, e: now + MAX_AGE_S * 1000 }), "utf8"), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64url");
  }

  /** The API key in a sealed cookie value, or null if forged, damaged or expired. */
  open(value: string | undefined, now = Date.now()): string | null {
    if (!value) return null;
    try {
      const raw = Buffer.from(value, "base64url");
      if (raw.length < 29) return null;
      const d = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
      const { k, e } = JSON.parse(text) as { k: string; e: number };
      return typeof k === "string" && e > now ? k : null;
    } catch {
      return null;
    }
  }

  csrfToken(cookie: string): string {
    return createHmac("sha256", this.mac).update(cookie).digest("base64url");
  }

  checkCsrf(cookie: string, token: string | undefined): boolean {
    if (!token) return false;
    const want = Buffer.from(this.csrfToken(cookie));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  /** The session cookie of the request (raw value). */
  cookie(c: Context): string | undefined {
    return getCookie(c, SESSION_COOKIE);
  }

  start(c: Context, apiKey: string): string {
    const value = this.seal(apiKey);
    setCookie(c, SESSION_COOKIE, value, {
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(c.req.url).protocol === "https:",
      path: "/",
      maxAge: MAX_AGE_S,
    });
    return value;
  }

  end(c: Context): void {
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
  }
}

/** A cross-site request: its Origin names another host than the one it was sent to. */
export function crossOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  if (!origin || origin === "null") return origin === "null";
  try {
    return new URL(origin).host !== new URL(c.req.url).host;
  } catch {
    return true;
  }
}
