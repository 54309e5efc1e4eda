/**
 * Shapes agreed in /v1 contracts but not yet in the generated document (src/client/openapi.ts): the keys
 * API and the per-event `conflict` status with the `invalid` flag. `Paths` and `EventBatchResult` take the
 * generated types as soon as `npm run client:generate` finds them, so these only fill the gap until the
 * routes land; delete an entry here once the generated file has it.
 */
import type { components, paths } from "./openapi.ts";

type ErrorAnswer = {
  headers: Record<string, unknown>;
  content: { "application/json": components["schemas"]["Error"] };
};
type Answer<T> = { headers: Record<string, unknown>; content: { "application/json": T } };
type NoParams = { query?: never; header?: never; path?: never; cookie?: never };

type KeyRole = "reader" | "writer" | "admin";

interface ApiKeyInfo {
  id: string;
  prefix: string;
  name: string | null;
  role: KeyRole;
  createdAt: string;
  revokedAt: string | null;
}

interface CreatedApiKey extends Omit<ApiKeyInfo, "revokedAt"> {
  /** Shown once. */
  key: string;
}

interface ContractPaths {
  "/v1/keys": {
    parameters: NoParams;
    get: {
      parameters: NoParams;
      requestBody?: never;
      responses: { 200: Answer<{ keys: ApiKeyInfo[] }>; 401: ErrorAnswer; 403: ErrorAnswer; 503: ErrorAnswer };
    };
    post: {
      parameters: NoParams;
      requestBody: { content: { "application/json": { name?: string; role: KeyRole } } };
      responses: { 201: Answer<CreatedApiKey>; 400: ErrorAnswer; 401: ErrorAnswer; 403: ErrorAnswer; 503: ErrorAnswer };
    };
  };
  "/v1/keys/{id}": {
    parameters: NoParams;
    delete: {
      parameters: { query?: never; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: {
        200: Answer<{ id: string; revokedAt: string }>;
        401: ErrorAnswer;
        403: ErrorAnswer;
        404: ErrorAnswer;
        503: ErrorAnswer;
      };
    };
  };
}

/** The API's paths: the generated ones, plus contract paths the generated document does not have yet. */
export type Paths = paths & Omit<ContractPaths, keyof paths>;

export type EventStatus = "accepted" | "duplicate" | "rejected" | "conflict";

interface ContractEventBatchResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  conflicts: number;
  results: { id: string; status: EventStatus; reason?: string; invalid?: boolean }[];
}

type GeneratedEventBatchResult = components["schemas"]["EventBatchResult"];

/** POST /v1/events' answer: the generated type once it has `conflicts`, the contract's until then. */
export type EventBatchResult = GeneratedEventBatchResult extends { conflicts: number }
  ? GeneratedEventBatchResult
  : ContractEventBatchResult;
export type EventResult = EventBatchResult["results"][number];
