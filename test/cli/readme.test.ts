/**
 * The "from TypeScript" (src/client/README.md) and "from a terminal" (src/cli/README.md) examples run as
 * written against the service: the TypeScript one imports `adbandit/client` through package.json
 * `exports`; the shell one runs with `npx adbandit` replaced by the bin it resolves to.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ADMIN_KEY } from "../helpers/service.ts";
import { repoRoot } from "../helpers/process.ts";
import { startServed, type Served } from "../client/serve.ts";
import { exec } from "./run.ts";

let s: Served;
beforeAll(async () => {
  s = await startServed({ seed: 11 });
});
afterAll(() => s?.close());

const block = (file: string, lang: string) =>
  new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(readFileSync(join(repoRoot, file), "utf8"))![1];

it("from TypeScript", async () => {
  const ws = await s.workspace("readme-ts");
  // Inside the package, so that `adbandit/client` resolves through package.json `exports`.
  const dir = mkdtempSync(join(repoRoot, "test/cli/.readme-"));
  try {
    writeFileSync(join(dir, "example.ts"), block("src/client/README.md", "ts"));
    const r = await exec(process.execPath, ["--import", "tsx", join(dir, "example.ts")], repoRoot, {
      ADBANDIT_URL: s.url,
      ADBANDIT_API_KEY: ws.apiKey,
    });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^show (red|blue) \(p = 0\.\d{3}\)\n/);
    expect(r.out).toContain("accepted: 2");
    expect(r.out).toContain("invalid_request 400 key\n");
    expect(r.out).toContain("1 decision(s) imported\n");
    expect(r.out).toMatch(/1 conversion\(s\)\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("from a terminal", async () => {
  const script = block("src/cli/README.md", "sh")
    .replaceAll("npx adbandit", `node ${join(repoRoot, "src/cli/bin.js")}`)
    .replace("http://localhost:3000", s.url)
    .replace("admin-key-0123456789", ADMIN_KEY);
  const dir = mkdtempSync(join(tmpdir(), "adbandit-readme-"));
  try {
    const r = await exec("bash", ["-eo", "pipefail", "-c", script], dir, {});
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      /imported .*history\.csv: 12 rows\naccepted +recovered +duplicates +rejected\n[- ]+\n +12 +0 +0 +0\n/,
    );
    // 12 imported + 20 live decisions; an impression each, a conversion worth 30 for every 4th
    expect(r.out).toMatch(/imported .*events\.csv: 40 rows\n/);
    expect(r.out).toMatch(/\(campaign\) +32 +32 +0 +8 +240 /);
    expect(r.out).toMatch(/key +green\nname +Green banner\n/);
    expect(r.out).toMatch(/ red paused\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);
