/** The checked-in client types are what the routes' schemas produce now (else: npm run client:generate). */
import { expect, it } from "vitest";
import { currentTypes, generatedTypes } from "../../src/client/generate.ts";

it("src/client/openapi.ts is current with the OpenAPI document (npm run client:generate rewrites it)", async () => {
  const expected = await generatedTypes();
  expect(currentTypes() === expected, "src/client/openapi.ts is stale: run `npm run client:generate`").toBe(true);
});
