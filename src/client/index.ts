/**
 * `adbandit/client`: a typed client for the adbandit HTTP API. Paths, bodies and answers are typed by
 * src/client/openapi.ts, which is generated from the routes' own schemas (`npm run client:generate`), and
 * requests go through openapi-fetch over `retryingFetch` (timeouts, retries on 429/503 honouring
 * Retry-After; see transport.ts for what is and is not retried). Every failure is an `AdbanditError`.
 *
 *   const client = new AdbanditClient({ baseUrl: "http://localhost:3000", apiKey });
 *   const d = await client.decide(campaignId, { unitId: "u1" });
 *   await client.sendEvents([{ id: "e1", decisionId: d.decisionId, type: "click" }]);
 */
import createFetchClient, { type Client } from "openapi-fetch";
import { EventBuffer, type EventBufferOptions } from "./buffer.ts";
import type { EventBatchResult } from "./types.ts";
import { AdbanditError } from "./errors.ts";
import type { components, paths as Paths } from "./openapi.ts";
import { retryingFetch, type TransportOptions } from "./transport.ts";

export { AdbanditError, type ErrorCode, type ErrorDetail } from "./errors.ts";
export { EventBuffer, type EventBufferOptions } from "./buffer.ts";
export type { EventBatchResult, EventResult, EventStatus } from "./types.ts";
export { retryingFetch, type Fetch, type RetryInfo, type TransportOptions } from "./transport.ts";

type Schemas = components["schemas"];
type JsonBody<P extends keyof Paths, M extends keyof Paths[P]> = Paths[P][M] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;
type Query<P extends keyof Paths, M extends keyof Paths[P]> = Paths[P][M] extends {
  parameters: { query?: infer Q };
}
  ? NonNullable<Q>
  : never;

export type Campaign = Schemas["Campaign"];
export type CampaignInput = JsonBody<"/v1/campaigns", "post">;
export type CampaignPatch = Schemas["CampaignPatch"];
export type Arm = Schemas["Arm"];
export type ArmInput = Schemas["ArmInput"];
export type ArmPatch = Schemas["ArmPatch"];
export type ArmReport = Schemas["ArmReport"];
export type DecisionRequest = Schemas["DecisionRequest"];
export type Decision = Schemas["Decision"];
export type BatchDecisionRequest = Schemas["DecisionBatchRequest"]["requests"][number];
export type ErrorBody = Schemas["Error"];
export type Event = Schemas["Event"];
/** A historical decision to import: its id, arm, propensity, time, and optional context and unit. */
export type ImportedDecision = Schemas["ImportedDecision"];
export type DecisionImportResult = Schemas["DecisionImportResult"];
export type CampaignReport = Schemas["CampaignReport"];
export type ReportQuery = Query<"/v1/campaigns/{id}/report", "get">;
export type ExportQuery = Query<"/v1/campaigns/{id}/decisions/export", "get">;
export type ArmsQuery = Query<"/v1/campaigns/{id}/arms", "get">;
export type Anomaly = Schemas["Anomaly"];
export type AnomalyQuery = Query<"/v1/anomalies", "get">;
export type BlocklistEntry = Schemas["BlocklistEntry"];
export type BlocklistEntryInput = Schemas["BlocklistEntryInput"];
export type Workspace = Schemas["Workspace"];
export type KeyRole = JsonBody<"/v1/keys", "post">["role"];
/** A key as listed (never the secret). */
export type ApiKeyInfo = Schemas["ApiKey"];
/** A key as created: with the secret, shown once. */
export type CreatedApiKey = Schemas["CreatedApiKey"];

/** Largest batch POST /v1/events, /v1/decisions/batch and …/decisions/import accept. */
export const MAX_BATCH = 1000;

export interface ClientOptions extends TransportOptions {
  /** Where the service listens, e.g. http://localhost:3000. */
  baseUrl: string;
  /** A workspace API key (or the admin key, for workspaces.create). */
  apiKey?: string;
  headers?: Record<string, string>;
}

type Answer = { data?: unknown; error?: unknown; response: Response };

/** The data of a successful answer; an AdbanditError otherwise. */
async function unwrap<R extends Answer>(pending: Promise<R>): Promise<Exclude<R["data"], undefined>> {
  const r = await pending;
  if (!r.response.ok) throw AdbanditError.fromAnswer(r.response.status, r.error, r.response.headers);
  return r.data as Exclude<R["data"], undefined>;
}

/** Whether an entry of decideBatch's answer is a decision (and not that request's error). */
export function isDecision(x: Decision | ErrorBody): x is Decision {
  return (x as Decision).decisionId !== undefined;
}

export class AdbanditClient {
  /** The typed openapi-fetch client, for anything the methods below do not cover. */
  readonly api: Client<Paths>;

  constructor(readonly options: ClientOptions) {
    this.api = createFetchClient<Paths>({
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      fetch: retryingFetch(options),
      headers: {
        ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        ...options.headers,
      },
    });
  }

  /** Chooses an arm; the decision is logged with its propensity. Not retried after a timeout (see transport.ts). */
  decide(campaignId: string, request: DecisionRequest = {}): Promise<Decision> {
    return unwrap(
      this.api.POST("/v1/campaigns/{id}/decisions", { params: { path: { id: campaignId } }, body: request }),
    );
  }

  /** Up to 1000 decisions in one request; a request that fails gets its error in its place. */
  async decideBatch(requests: BatchDecisionRequest[]): Promise<Array<Decision | ErrorBody>> {
    return (await unwrap(this.api.POST("/v1/decisions/batch", { body: { requests } }))).decisions;
  }

  /** Sends events, 1000 per request; each id counts once, so a retried or repeated send is safe. */
  async sendEvents(events: Event[]): Promise<EventBatchResult> {
    const out = { accepted: 0, duplicates: 0, rejected: 0, conflicts: 0, results: [] } as EventBatchResult;
    for (let i = 0; i < events.length; i += MAX_BATCH) {
      const r = (await unwrap(
        this.api.POST("/v1/events", { body: { events: events.slice(i, i + MAX_BATCH) } }),
      )) as EventBatchResult;
      out.accepted += r.accepted;
      out.duplicates += r.duplicates;
      out.rejected += r.rejected;
      out.conflicts += r.conflicts ?? r.results.filter((x) => x.status === "conflict").length;
      out.results.push(...r.results);
    }
    return out;
  }

  /**
   * Imports historical decisions into a campaign's log (admin key), 1000 per request; idempotent by
   * decision id, so a repeated import answers `duplicate` and a timed-out one is retried. Each imported
   * decision counts as a trial of its arm; its events, sent later, attribute to it as to a live decision.
   */
  async importDecisions(campaignId: string, decisions: ImportedDecision[]): Promise<DecisionImportResult> {
    const out: DecisionImportResult = { accepted: 0, duplicates: 0, rejected: 0, results: [] };
    for (let i = 0; i < decisions.length; i += MAX_BATCH) {
      const r = await unwrap(
        this.api.POST("/v1/campaigns/{id}/decisions/import", {
          params: { path: { id: campaignId } },
          body: { decisions: decisions.slice(i, i + MAX_BATCH) },
        }),
      );
      out.accepted += r.accepted;
      out.duplicates += r.duplicates;
      out.rejected += r.rejected;
      out.results.push(...r.results);
    }
    return out;
  }

  /** A buffer that batches events and sends them by size or interval, and on close(). */
  eventBuffer(options: EventBufferOptions = {}): EventBuffer {
    return new EventBuffer((events) => this.sendEvents(events), options);
  }

  /** The decision log as a stream of JSONL (default) or CSV bytes. */
  async exportDecisions(campaignId: string, query: ExportQuery = {}): Promise<ReadableStream<Uint8Array>> {
    const body = await unwrap(
      this.api.GET("/v1/campaigns/{id}/decisions/export", {
        params: { path: { id: campaignId }, query },
        parseAs: "stream",
      }),
    );
    return body as ReadableStream<Uint8Array>;
  }

  health(): Promise<{ status: string; database: string }> {
    return unwrap(this.api.GET("/healthz"));
  }

  readonly workspaces = {
    /** Needs the admin key; the answer carries the workspace's admin API key, shown once. */
    create: (name: string): Promise<Workspace> => unwrap(this.api.POST("/v1/workspaces", { body: { name } })),
  };

  readonly keys = {
    create: (role: KeyRole, name?: string): Promise<CreatedApiKey> =>
      unwrap(this.api.POST("/v1/keys", { body: { role, ...(name !== undefined ? { name } : {}) } })),
    list: async (): Promise<ApiKeyInfo[]> => (await unwrap(this.api.GET("/v1/keys"))).keys,
    revoke: (id: string) => unwrap(this.api.DELETE("/v1/keys/{id}", { params: { path: { id } } })),
  };

  readonly campaigns = {
    create: (input: CampaignInput): Promise<Campaign> => unwrap(this.api.POST("/v1/campaigns", { body: input })),
    list: async (): Promise<Campaign[]> => (await unwrap(this.api.GET("/v1/campaigns"))).campaigns,
    get: (id: string): Promise<Campaign> => unwrap(this.api.GET("/v1/campaigns/{id}", { params: { path: { id } } })),
    update: (id: string, patch: CampaignPatch): Promise<Campaign> =>
      unwrap(this.api.PATCH("/v1/campaigns/{id}", { params: { path: { id } }, body: patch })),
    pause: (id: string) => this.campaigns.update(id, { status: "paused" }),
    resume: (id: string) => this.campaigns.update(id, { status: "active" }),
    archive: (id: string) => this.campaigns.update(id, { status: "archived" }),
  };

  readonly arms = {
    add: (campaignId: string, arm: ArmInput): Promise<Arm> =>
      unwrap(this.api.POST("/v1/campaigns/{id}/arms", { params: { path: { id: campaignId } }, body: arm })),
    /** Per arm: counts, posterior mean and interval, P(best), traffic share (`precision: "full"`: unrounded). */
    list: async (campaignId: string, query: ArmsQuery = {}): Promise<ArmReport[]> =>
      (await unwrap(this.api.GET("/v1/campaigns/{id}/arms", { params: { path: { id: campaignId }, query } }))).arms,
    update: (campaignId: string, key: string, patch: ArmPatch): Promise<Arm> =>
      unwrap(
        this.api.PATCH("/v1/campaigns/{id}/arms/{key}", { params: { path: { id: campaignId, key } }, body: patch }),
      ),
    pause: (campaignId: string, key: string) => this.arms.update(campaignId, key, { status: "paused" }),
    resume: (campaignId: string, key: string) => this.arms.update(campaignId, key, { status: "active" }),
    archive: (campaignId: string, key: string) => this.arms.update(campaignId, key, { status: "archived" }),
  };

  readonly reports = {
    /** The ROI report as JSON. */
    campaign: async (campaignId: string, query: Omit<ReportQuery, "format"> = {}): Promise<CampaignReport> =>
      (await unwrap(
        this.api.GET("/v1/campaigns/{id}/report", {
          params: { path: { id: campaignId }, query: { ...query, format: "json" } },
        }),
      )) as CampaignReport,
    /** The same report as the server's CSV. */
    csv: async (campaignId: string, query: Omit<ReportQuery, "format"> = {}): Promise<string> =>
      (await unwrap(
        this.api.GET("/v1/campaigns/{id}/report", {
          params: { path: { id: campaignId }, query: { ...query, format: "csv" } },
          parseAs: "text",
        }),
      )) as string,
  };

  readonly anomalies = {
    list: async (query: AnomalyQuery = {}): Promise<Anomaly[]> =>
      (await unwrap(this.api.GET("/v1/anomalies", { params: { query } }))).anomalies,
    review: (id: string, status: "confirmed" | "dismissed", note?: string): Promise<Anomaly> =>
      unwrap(
        this.api.PATCH("/v1/anomalies/{id}", {
          params: { path: { id } },
          body: { status, ...(note !== undefined ? { note } : {}) },
        }),
      ),
    confirm: (id: string, note?: string) => this.anomalies.review(id, "confirmed", note),
    /** Dismissing restores the events the finding invalidated. */
    dismiss: (id: string, note?: string) => this.anomalies.review(id, "dismissed", note),
    /**
     * Confirms the finding and blocklists its source (ip, user agent, publisher or placement), so the
     * source's future events are invalid. A finding about a whole campaign has no source to block.
     */
    block: async (
      id: string,
      options: { note?: string; expiresAt?: string } = {},
    ): Promise<{ anomaly: Anomaly; entry: BlocklistEntry }> => {
      const found = (await this.anomalies.list({ limit: 1000 })).find((a) => a.id === id);
      const type = found?.entityType;
      if (found && !BLOCKABLE.includes(type as BlocklistEntryInput["entityType"]))
        throw new AdbanditError(
          "invalid_request",
          `anomaly ${id} is about a ${type}, which cannot be blocklisted (only ${BLOCKABLE.join(", ")})`,
          400,
          [{ path: "entityType", message: `not one of ${BLOCKABLE.join(", ")}` }],
        );
      const anomaly = await this.anomalies.confirm(id, options.note);
      const entry = await this.blocklist.add({
        entityType: anomaly.entityType as BlocklistEntryInput["entityType"],
        entity: anomaly.entity,
        reason: options.note ?? `anomaly ${anomaly.id}: ${anomaly.detector}`,
        ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
      });
      return { anomaly, entry };
    },
  };

  readonly blocklist = {
    add: (entry: BlocklistEntryInput): Promise<BlocklistEntry> =>
      unwrap(this.api.POST("/v1/blocklist", { body: entry })),
    list: async (): Promise<BlocklistEntry[]> => (await unwrap(this.api.GET("/v1/blocklist"))).entries,
    remove: async (id: string): Promise<void> => {
      await unwrap(this.api.DELETE("/v1/blocklist/{id}", { params: { path: { id } } }));
    },
  };
}

/** The blockable source types, checked against the generated schema (a missing or extra one fails typecheck). */
const BLOCKABLE_TYPES = { ip: true, user_agent: true, publisher: true, placement: true } satisfies Record<
  BlocklistEntryInput["entityType"],
  true
>;
const BLOCKABLE = Object.keys(BLOCKABLE_TYPES) as BlocklistEntryInput["entityType"][];
