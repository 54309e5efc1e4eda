/** Environment configuration: defaults, and one clear line naming each wrong value. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

describe("loadConfig", () => {
  it("defaults: port 3000, PGlite in ./data, a generated admin key", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      dataDir: "./data",
      databaseUrl: undefined,
      adminKeyGenerated: true,
      refreshIntervalMs: 2000,
      logLevel: "info",
    });
    expect(c.adminKey.length).toBeGreaterThanOrEqual(16);
  });
  it("reads every variable", () => {
    const c = loadConfig({
      PORT: "8080",
      DATABASE_URL: "postgres://u@h:5432/db",
      ADBANDIT_ADMIN_KEY: "k".repeat(20),
      ADBANDIT_REFRESH_MS: "500",
      LOG_LEVEL: "debug",
    });
    expect(c).toMatchObject({
      port: 8080,
      databaseUrl: "postgres://u@h:5432/db",
      adminKey: "k".repeat(20),
      adminKeyGenerated: false,
      refreshIntervalMs: 500,
      logLevel: "debug",
    });
  });
  it("names each wrong value in one error", () => {
    let err: unknown;
    try {
      loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://x", ADBANDIT_ADMIN_KEY: "short", LOG_LEVEL: "loud" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join("\n");
    for (const v of ["PORT", "DATABASE_URL", "ADBANDIT_ADMIN_KEY", "LOG_LEVEL"]) expect(problems).toContain(v);
    expect(problems).toContain('"eighty"');
  });
  it("requires the admin key in production", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/ADBANDIT_ADMIN_KEY/);
  });
});
