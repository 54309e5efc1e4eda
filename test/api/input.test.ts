/**
 * The body check's fast path (src/api/input.ts `textIsPlain`): a text it calls plain must pass the full
 * walk (`jsonProblem`), over generated JSON and the texts that carry each refused kind of value; and a text
 * the walk refuses is never called plain.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BODY_MAX_DEPTH, jsonProblem, parseBody, textIsPlain } from "../../src/api/input.ts";
import { ApiError } from "../../src/api/errors.ts";

const nest = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);

describe("textIsPlain", () => {
  it("agrees with the walk on generated JSON: plain ⇒ no problem, a problem ⇒ not plain", () => {
    const strings = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }), // includes lone surrogates
      fc.constantFrom("\u0000", "a\u0000b", "\ud800", "x\udfff", "😀", '\\"[{', "1e400", "]]]}}}"),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: "small" },
        strings,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie("v"), { maxLength: 4 }),
        fc.dictionary(strings, tie("v"), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, fc.integer({ min: 1, max: 6 }), (v, depth) => {
        const text = JSON.stringify(v);
        if (text === undefined) return;
        const problem = jsonProblem(JSON.parse(text), depth);
        if (textIsPlain(text, depth)) expect(problem).toBeNull();
        if (problem) expect(textIsPlain(text, depth)).toBe(false);
      }),
      { numRuns: 3000, seed: 42 },
    );
  });

  it("refuses each kind of value the walk refuses, and takes the plain ones", () => {
    for (const [text, plain] of [
      ['{"unitId":"u","context":{"device":"mobile","age":31}}', true],
      ['{"a":"\\u0000"}', false],
      ['{"\\u0000":1}', false],
      ['{"a":"\\ud800"}', false],
      ['{"a":"\\uDC00"}', false],
      ['{"a":1e400}', false],
      ['{"a":-1E+309}', false],
      [`{"a":${"9".repeat(310)}}`, false],
      [nest(BODY_MAX_DEPTH), true],
      [nest(BODY_MAX_DEPTH + 1), false],
      [deepObject(BODY_MAX_DEPTH + 1), false],
      ['{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', true], // brackets inside a string
      ['{"a":"\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', true], // after an escaped quote
    ] as const) {
      expect(textIsPlain(text, BODY_MAX_DEPTH), text.slice(0, 60)).toBe(plain);
    }
  });

  it("parseBody still names the field of every refused value", () => {
    const message = (text: string) => {
      try {
        parseBody(text);
        return null;
      } catch (err) {
        return err instanceof ApiError ? err.message : String(err);
      }
    };
    expect(message('{"context":{"a":"x\\u0000"}}')).toMatch(/^context\.a: must not contain U\+0000/);
    expect(message('{"value":1e400}')).toBe("value: must be a finite number");
    expect(message(nest(BODY_MAX_DEPTH + 1))).toMatch(/nested deeper than 32 levels/);
    expect(message('{"a":"\\ud83d\\ude00","b":1e-400}')).toBeNull(); // suspect text, nothing wrong
    expect(message('{"a":')).toBe("malformed JSON in request body");
  });
});
