/**
 * Declared bots and non-browser clients (GIVT). The `isbot` package carries a maintained list of crawler
 * and bot user agents (github.com/omrilotan/isbot); on top of it, HTTP libraries and automation tools that
 * are no browser and never a person viewing an ad. Matching is case-insensitive on the whole string.
 */
import { isbotMatch } from "isbot";

const NON_BROWSER: readonly RegExp[] = [
  /^curl\//i,
  /^wget\//i,
  /python-requests|python-urllib|aiohttp|httpx\//i,
  /go-http-client/i,
  /^java\/|apache-httpclient|okhttp/i,
  /^axios\/|node-fetch|undici|^got\b/i,
  /libwww-perl|lwp::|mechanize/i,
  /scrapy|postmanruntime|insomnia/i,
  /headless|phantomjs|selenium|webdriver|puppeteer|playwright/i,
];

export interface UaVerdict {
  bot: boolean;
  /** What matched: "isbot:<pattern>" or "non-browser:<pattern>". */
  match?: string;
}

/** An empty or missing user agent is not judged here: server-to-server postbacks legitimately send none. */
export function classifyUserAgent(ua: string | null | undefined): UaVerdict {
  if (!ua) return { bot: false };
  // A pseudonymised agent (src/privacy/pseudonym.ts) carries its class: `ua:<hash>` or `bot:<match>#<hash>`.
  if (ua.startsWith("ua:")) return { bot: false };
  if (ua.startsWith("bot:")) {
    const end = ua.lastIndexOf("#");
    return { bot: true, match: ua.slice(4, end < 0 ? undefined : end) };
  }
  for (const re of NON_BROWSER) if (re.test(ua)) return { bot: true, match: `non-browser:${re.source}` };
  const m = isbotMatch(ua);
  if (m) return { bot: true, match: `isbot:${m}` };
  return { bot: false };
}
