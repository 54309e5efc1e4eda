import { describe, expect, it } from "vitest";
import { DAY_HOURS, isValidTimeZone, nextSendAt, parseSendTimeKey } from "../../src/engine/sendtime.ts";

const at = (iso: string) => new Date(iso);

describe("parseSendTimeKey", () => {
  it.each([
    ["00", { hour: 0 }],
    ["23", { hour: 23 }],
    ["mon-09", { weekday: 1, hour: 9 }],
    ["sun-00", { weekday: 0, hour: 0 }],
  ])("%s", (k, want) => expect(parseSendTimeKey(k)).toEqual(want));
  it.each(["24", "9", "mon-24", "Mon-09", "xyz", ""])("rejects %s", (k) => expect(parseSendTimeKey(k)).toBeUndefined());
  it("default hours are 00..23", () =>
    expect(DAY_HOURS).toEqual(Array.from({ length: 24 }, (_, i) => String(i).padStart(2, "0"))));
});

describe("nextSendAt", () => {
  it("UTC: later the same day, or the next day once passed", () => {
    expect(nextSendAt("09", "UTC", at("2024-05-01T08:30:00Z")).toISOString()).toBe("2024-05-01T09:00:00.000Z");
    expect(nextSendAt("09", "UTC", at("2024-05-01T09:30:00Z")).toISOString()).toBe("2024-05-02T09:00:00.000Z");
    expect(nextSendAt("09", "UTC", at("2024-05-01T09:00:00Z")).toISOString()).toBe("2024-05-01T09:00:00.000Z");
  });
  it("applies the zone's offset (New York, summer: UTC−4)", () => {
    expect(nextSendAt("09", "America/New_York", at("2024-07-01T12:00:00Z")).toISOString()).toBe(
      "2024-07-01T13:00:00.000Z",
    );
  });
  it("half-hour and 45-minute offsets", () => {
    // Kolkata UTC+5:30, Kathmandu UTC+5:45
    expect(nextSendAt("10", "Asia/Kolkata", at("2024-01-01T00:00:00Z")).toISOString()).toBe("2024-01-01T04:30:00.000Z");
    expect(nextSendAt("10", "Asia/Kathmandu", at("2024-01-01T00:00:00Z")).toISOString()).toBe(
      "2024-01-01T04:15:00.000Z",
    );
  });
  it("a local date ahead of UTC (Auckland)", () => {
    // 2024-01-01T20:00Z is 2024-01-02 09:00 in Auckland (UTC+13)
    expect(nextSendAt("08", "Pacific/Auckland", at("2024-01-01T20:00:00Z")).toISOString()).toBe(
      "2024-01-02T19:00:00.000Z",
    );
  });
  it("spring forward: an hour that does not exist that day moves to the next day", () => {
    // 2024-03-10 in New York: 02:00 → 03:00
    expect(nextSendAt("02", "America/New_York", at("2024-03-10T05:00:00Z")).toISOString()).toBe(
      "2024-03-11T06:00:00.000Z",
    );
    expect(nextSendAt("03", "America/New_York", at("2024-03-10T05:00:00Z")).toISOString()).toBe(
      "2024-03-10T07:00:00.000Z",
    );
  });
  it("fall back: a repeated hour starts at its first occurrence; the second is still an hour start", () => {
    // 2024-11-03 in New York: 01:00 EDT (05:00Z) then 01:00 EST (06:00Z)
    expect(nextSendAt("01", "America/New_York", at("2024-11-03T04:30:00Z")).toISOString()).toBe(
      "2024-11-03T05:00:00.000Z",
    );
    expect(nextSendAt("01", "America/New_York", at("2024-11-03T05:30:00Z")).toISOString()).toBe(
      "2024-11-03T06:00:00.000Z",
    );
    expect(nextSendAt("02", "America/New_York", at("2024-11-03T05:30:00Z")).toISOString()).toBe(
      "2024-11-03T07:00:00.000Z",
    );
  });
  it("hours of the week", () => {
    // 2024-05-01 is a Wednesday
    expect(nextSendAt("wed-10", "UTC", at("2024-05-01T08:00:00Z")).toISOString()).toBe("2024-05-01T10:00:00.000Z");
    expect(nextSendAt("wed-07", "UTC", at("2024-05-01T08:00:00Z")).toISOString()).toBe("2024-05-08T07:00:00.000Z");
    expect(nextSendAt("mon-00", "Europe/Paris", at("2024-05-01T08:00:00Z")).toISOString()).toBe(
      "2024-05-05T22:00:00.000Z",
    );
  });
  it("is always at or after `after`, at most a week later, and reads back as the hour", () => {
    const zones = [
      "UTC",
      "America/New_York",
      "Europe/London",
      "Australia/Lord_Howe",
      "Asia/Kathmandu",
      "America/St_Johns",
    ];
    let t = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 400; i++) {
      t += 7_919_000 * 7; // walks across the year, through every DST change
      const tz = zones[i % zones.length];
      const key =
        i % 2
          ? String(i % 24).padStart(2, "0")
          : `${["sun", "mon", "tue", "wed", "thu", "fri", "sat"][i % 7]}-${String(i % 24).padStart(2, "0")}`;
      const s = nextSendAt(key, tz, new Date(t)).getTime();
      expect(s).toBeGreaterThanOrEqual(t);
      expect(s - t).toBeLessThanOrEqual(8 * 86_400_000);
      const hour = Number(
        new Intl.DateTimeFormat("en-US", { timeZone: tz, hour: "numeric", hourCycle: "h23" }).format(s),
      );
      expect(hour).toBe(Number(key.slice(-2)));
    }
  });
  it("rejects bad zones and keys", () => {
    expect(isValidTimeZone("Mars/Olympus")).toBe(false);
    expect(isValidTimeZone("Europe/Berlin")).toBe(true);
    expect(() => nextSendAt("09", "Mars/Olympus", new Date())).toThrow(RangeError);
    expect(() => nextSendAt("25", "UTC", new Date())).toThrow(RangeError);
  });
});
