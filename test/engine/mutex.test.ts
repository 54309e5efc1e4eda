import { describe, expect, it } from "vitest";
import { RwLock } from "../../src/engine/mutex.ts";

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("RwLock", () => {
  it("lets shared holders overlap and keeps an exclusive holder alone, in arrival order", async () => {
    const lock = new RwLock();
    const log: string[] = [];
    let active = 0;
    let maxShared = 0;
    const shared = (name: string) =>
      lock.shared(async () => {
        active++;
        maxShared = Math.max(maxShared, active);
        log.push(`+${name}`);
        await tick();
        await tick();
        log.push(`-${name}`);
        active--;
      });
    const exclusive = (name: string) =>
      lock.exclusive(async () => {
        expect(active).toBe(0);
        log.push(`+${name}`);
        await tick();
        log.push(`-${name}`);
      });
    await Promise.all([shared("a"), shared("b"), exclusive("X"), shared("c")]);
    expect(maxShared).toBe(2);
    // X waits for a and b; c (arrived after X) waits for X
    expect(log.indexOf("+X")).toBeGreaterThan(Math.max(log.indexOf("-a"), log.indexOf("-b")));
    expect(log.indexOf("+c")).toBeGreaterThan(log.indexOf("-X"));
  });

  it("releases on a throw", async () => {
    const lock = new RwLock();
    await expect(lock.exclusive(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(lock.shared(async () => 1)).resolves.toBe(1);
  });
});
