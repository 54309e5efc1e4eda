import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ContextError, createEncoder, fnv1a } from "../../strategies/features.ts";
import { StrategyParamError } from "../../strategies/types.ts";

describe("createEncoder", () => {
  const enc = createEncoder([
    { name: "age", type: "numeric" },
    { name: "device", type: "categorical", values: ["ios", "android", "web"] },
    { name: "country", type: "categorical", buckets: 8 },
  ]);

  it("lays out intercept, numeric, one-hot, hashed", () => {
    expect(enc.dim).toBe(1 + 1 + 3 + 8);
    const x = enc.encode({ age: 0.5, device: "android", country: "FR" });
    expect(Array.from(x.subarray(0, 5))).toEqual([1, 0.5, 0, 1, 0]);
    const hashed = Array.from(x.subarray(5));
    expect(hashed.reduce((s, v) => s + v, 0)).toBe(1);
    expect(hashed.indexOf(1)).toBe(fnv1a("FR") % 8);
  });

  it("missing or unknown values encode as zeros; no context is the intercept alone", () => {
    expect(Array.from(enc.encode(undefined))).toEqual([1, ...new Array(12).fill(0)]);
    expect(Array.from(enc.encode({ device: "tv" }).subarray(2, 5))).toEqual([0, 0, 0]);
    expect(enc.encode({ age: null })[1]).toBe(0);
  });

  it("FNV-1a is the standard one (stable across processes)", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it.each([
    [{ age: "old" }, "age"],
    [{ age: Number.NaN }, "age"],
    [{ device: { os: "ios" } }, "device"],
    [{ country: ["FR"] }, "country"],
  ])("a wrong type throws ContextError naming the feature (%j)", (ctx, field) => {
    try {
      enc.encode(ctx as Record<string, unknown>);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ContextError);
      expect((e as ContextError).field).toBe(field);
    }
  });

  it("without intercept; bad specs throw StrategyParamError", () => {
    expect(createEncoder([{ name: "a", type: "numeric" }], { intercept: false }).encode({ a: 2 })[0]).toBe(2);
    expect(() =>
      createEncoder([
        { name: "a", type: "numeric" },
        { name: "a", type: "numeric" },
      ]),
    ).toThrow(StrategyParamError);
    expect(() => createEncoder([{ name: "c", type: "categorical", values: [] }])).toThrow(StrategyParamError);
    expect(() => createEncoder([{ name: "c", type: "categorical", buckets: 0 }])).toThrow(StrategyParamError);
  });

  it("property: every encoding has length dim, an intercept of 1 and one hot slot per present category", () => {
    fc.assert(
      fc.property(
        fc.option(fc.double({ noNaN: true, noDefaultInfinity: true })),
        fc.option(fc.constantFrom("ios", "android", "web", "x")),
        fc.option(fc.string()),
        (age, device, country) => {
          const ctx: Record<string, unknown> = {};
          if (age !== null) ctx.age = age;
          if (device !== null) ctx.device = device;
          if (country !== null) ctx.country = country;
          const x = enc.encode(ctx);
          expect(x.length).toBe(enc.dim);
          expect(x[0]).toBe(1);
          const hot = Array.from(x.subarray(5)).reduce((s, v) => s + v, 0);
          expect(hot).toBe(country !== null ? 1 : 0);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});
