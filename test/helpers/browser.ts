/**
 * The one way a test opens a browser: the headless Chromium shipped inside the `@sparticuz/chromium` npm
 * package, driven by playwright-core. `npm install` brings it, so browser tests run on a fresh machine with no
 * system chromium and no download.
 *
 * The package's brotli archives are unpacked once into `node_modules/.cache/adbandit-chromium/<version>`
 * (staged in a private folder and renamed into place, so concurrent test processes never see half a
 * binary). Every page opened through `openPage`:
 * - answers only requests to this machine (`localhost`, `127.0.0.1`, `[::1]`, `file:`, `data:`, `blob:`);
 *   any other request is aborted and recorded in `offMachine`;
 * - records console errors and uncaught page errors in `errors`;
 * - saves screenshots under `test-artifacts/screenshots/` (git-ignored) with `shot(name)`.
 * `check()` asserts that nothing left the machine and no error was logged.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { expect } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ARTIFACTS = join(ROOT, "test-artifacts", "screenshots");

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, "node_modules", "@sparticuz", "chromium", "package.json"), "utf8"));
  return String(pkg.version);
}

/** Unpacks the packaged Chromium once and returns its folder (holding `chromium`, swiftshader and fonts). */
async function unpackedChromium(): Promise<string> {
  const cache = join(ROOT, "node_modules", ".cache", "adbandit-chromium");
  const target = join(cache, packageVersion());
  if (existsSync(join(target, "ready"))) return target;
  mkdirSync(cache, { recursive: true });
  const stage = mkdtempSync(join(cache, "stage-"));
  // The package unpacks into os.tmpdir(); point it at the private staging folder for this one call.
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = stage;
  try {
    const { default: packaged } = await import("@sparticuz/chromium");
    const binary = await packaged.executablePath();
    if (binary !== join(stage, "chromium")) throw new Error(`chromium unpacked to ${binary}, expected ${stage}`);
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
  // The shipped fonts.conf names /tmp/fonts; write one that names the unpacked fonts where they will live.
  writeFileSync(
    join(stage, "fonts", "fonts.conf"),
    `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <dir>${join(target, "fonts", "fonts")}</dir>\n  <cachedir>${join(target, "fonts-cache")}</cachedir>\n</fontconfig>\n`,
  );
  writeFileSync(join(stage, "ready"), "");
  try {
    renameSync(stage, target);
  } catch {
    // Another process renamed its copy first.
    rmSync(stage, { recursive: true, force: true });
  }
  if (!existsSync(join(target, "ready"))) throw new Error(`could not unpack chromium into ${target}`);
  return target;
}

/** Launches the packaged headless Chromium. Close it with `browser.close()`. */
export async function launchBrowser(): Promise<Browser> {
  const dir = await unpackedChromium();
  return chromium.launch({
    executablePath: join(dir, "chromium"),
    headless: true,
    args: [
      "--no-sandbox",
      "--no-zygote",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-domain-reliability",
      "--disable-component-update",
      "--no-pings",
    ],
    env: { ...process.env, FONTCONFIG_PATH: join(dir, "fonts"), LD_LIBRARY_PATH: dir, HOME: dir },
  });
}

export interface TestPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[];
  /** Requests that tried to leave the machine (aborted). */
  offMachine: string[];
  /** Saves a full-page screenshot as `test-artifacts/screenshots/<prefix>-<name>.png` and returns its path. */
  shot(name: string): Promise<string>;
  /** Fails the test if any request left the machine or any console error was logged. */
  check(): void;
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export function isLocal(url: string): boolean {
  const u = new URL(url);
  if (u.protocol === "file:" || u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") {
    return true;
  }
  return LOCAL_HOSTS.has(u.hostname);
}

/**
 * Opens a page in a fresh context (own cookies) of `browser`. `prefix` names the screenshots of this test.
 */
export async function openPage(
  browser: Browser,
  prefix: string,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<TestPage> {
  const context = await browser.newContext({ viewport });
  const errors: string[] = [];
  const offMachine: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    offMachine.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => errors.push(e.message));
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    page,
    context,
    errors,
    offMachine,
    async shot(name) {
      const path = join(ARTIFACTS, `${prefix}-${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    check() {
      expect(offMachine, "requests that tried to leave the machine").toEqual([]);
      expect(errors, "console errors").toEqual([]);
    },
  };
}

/** Serves `fetch` (a service's app) on a free port of 127.0.0.1; `close()` stops it. */
export async function listen(
  fetch: (req: Request) => Response | Promise<Response>,
): Promise<{ url: string; close(): Promise<void> }> {
  const { serve } = await import("@hono/node-server");
  return new Promise((resolvePromise) => {
    const server = serve({ fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
      resolvePromise({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}
