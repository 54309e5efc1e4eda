/** The README's example runs as written (STYLE.md): extracted, pointed at the library, run with tsx. */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

describe("strategies/README.md", () => {
  it("the example runs and prints a decision", () => {
    const md = readFileSync(join(root, "strategies/README.md"), "utf8");
    const code = /```ts\n([\s\S]*?)```/
      .exec(md)![1]!
      .replace("./strategies/index.ts", pathToFileURL(join(root, "strategies/index.ts")).href);
    const dir = mkdtempSync(join(tmpdir(), "adbandit-readme-"));
    try {
      const file = join(dir, "example.ts");
      writeFileSync(file, code);
      const out = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" });
      expect(out).toMatch(/propensity/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
