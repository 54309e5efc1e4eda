/** Names for the generated shapes the client and the CLI pass around (src/client/openapi.ts). */
import type { components } from "./openapi.ts";

/** POST /v1/events' answer: counts and one result per event, in order. */
export type EventBatchResult = components["schemas"]["EventBatchResult"];
export type EventResult = EventBatchResult["results"][number];
export type EventStatus = EventResult["status"];
