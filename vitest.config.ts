/**
 * Test runner configuration. Two cores: forks (each suite in its own process, so PGlite's WASM heap and
 * postgres.js pools are freed with it) capped at 2 workers. Database suites migrate a fresh database per
 * file, and the e2e suites spawn service processes, hence the generous timeouts.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["node_modules/**", "data/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
