/**
 * DatabaseHealth: one failed probe is not an outage (a starved machine answers late); two in a row are;
 * the first probe that succeeds ends it, and each change is reported once.
 */
import { describe, expect, it } from "vitest";
import { DatabaseHealth } from "../../src/store/db.ts";

describe("DatabaseHealth", () => {
  it("goes down after two failed probes in a row and up after one success", async () => {
    const answers: boolean[] = [];
    const changes: boolean[] = [];
    const h = new DatabaseHealth(async () => answers.shift() ?? true, {
      upIntervalMs: 60_000,
      downIntervalMs: 60_000,
      onChange: (up) => changes.push(up),
    });
    try {
      expect(h.healthy).toBe(true);
      answers.push(false);
      await h.suspect();
      expect(h.healthy).toBe(true); // one failure
      answers.push(true);
      await h.suspect();
      answers.push(false, false);
      await h.suspect();
      expect(h.healthy).toBe(true);
      await h.suspect();
      expect(h.healthy).toBe(false); // two in a row
      answers.push(false);
      await h.suspect();
      expect(h.healthy).toBe(false);
      answers.push(true);
      await h.suspect();
      expect(h.healthy).toBe(true);
      expect(changes).toEqual([false, true]);
    } finally {
      h.stop();
    }
  });

  it("a probe that throws counts as a failure; concurrent suspicions share one probe", async () => {
    let calls = 0;
    const h = new DatabaseHealth(
      async () => {
        calls++;
        throw new Error("refused");
      },
      { upIntervalMs: 60_000, downIntervalMs: 60_000 },
    );
    try {
      await Promise.all([h.suspect(), h.suspect(), h.suspect()]);
      expect(calls).toBe(1);
      await h.suspect();
      expect(h.healthy).toBe(false);
    } finally {
      h.stop();
    }
  });
});
