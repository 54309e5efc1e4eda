/**
 * The one agreed shape not yet in the generated document (src/client/openapi.ts): the per-event
 * `conflict` status and `invalid` flag of POST /v1/events (engine). `EventBatchResult` takes the generated
 * type as soon as `npm run client:generate` finds `conflicts` in it; then this file can go.
 */
import type { components } from "./openapi.ts";

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
