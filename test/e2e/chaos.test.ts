/**
 * Chaos against a private PostgreSQL instance (test/helpers/private-pg.ts; skipped with a message when
 * the binaries are absent): concurrent decisions and events against a real service process while the
 * database is restarted and then stopped for 10 s. The process stays alive; during the outage every
 * request is answered (503, in the error shape, never a hang or another 5xx); decisions succeed again
 * soon after the database is back; every acknowledged decision and event is stored exactly once.
 * The bounds here only catch hangs; bench/chaos.ts prints the measured latencies.
 */
import { describe, expect, it } from "vitest";
import { runChaos } from "../../bench/chaos.ts";
import { privatePgUnavailable } from "../helpers/private-pg.ts";

const why = privatePgUnavailable();
if (why) console.warn(`[chaos] skipped: ${why}`);

describe.runIf(!why)("database faults under load (private PostgreSQL)", () => {
  it("survives a restart and a 10 s stop: alive, 503s answered, recovered, nothing lost or doubled", {
    timeout: 180_000,
  }, async () => {
    const r = await runChaos({ clients: 8, phaseMs: 3000, stopMs: 10_000, clientTimeoutMs: 8000 });
    expect(r.processAlive).toBe(true);
    expect(r.faultsSurvived).toBe(r.faultsInjected);
    expect(r.errors5xx).toBe(0);
    expect(r.noAnswer).toBe(0);
    expect(r.outage503.count).toBeGreaterThan(0);
    expect(r.outage503.maxMs).toBeLessThan(8000);
    expect(r.recoverMs.stop).not.toBeNull();
    expect(r.recoverMs.stop as number).toBeLessThan(10_000);
    expect(r.decisions.acknowledged).toBeGreaterThan(100);
    expect(r.decisions.lost).toBe(0);
    expect(r.decisions.duplicated).toBe(0);
    expect(r.events.acknowledged).toBeGreaterThan(10);
    expect(r.events.lost).toBe(0);
    expect(r.events.duplicated).toBe(0);
  });
});
