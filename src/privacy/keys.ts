/**
 * The workspaces' privacy settings and secrets, cached in memory: the decision hot path reads them
 * synchronously (`get`), and awaits `load` only for a workspace it has not seen yet. A cached entry is
 * re-read in the background after `ttlMs`, so a settings change made on another replica is seen here
 * within that time (the secret itself never changes).
 */
import { eq } from "drizzle-orm";
import type { Db } from "../store/db.ts";
import { workspaces } from "../store/schema.ts";
import type { WorkspacePrivacy } from "./pseudonym.ts";

export interface PrivacySettings {
  rawIdentifiers: boolean;
  retention: { decisionsDays: number; eventsDays: number };
}

interface Entry {
  ws: WorkspacePrivacy;
  until: number;
  reloading?: Promise<unknown>;
}

const MAX = 100_000;

export class PrivacyKeys {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly db: () => Db,
    private readonly ttlMs = 5_000,
  ) {}

  /** The workspace's cached entry (a stale one triggers a background reload), or undefined. */
  get(workspaceId: string): WorkspacePrivacy | undefined {
    const e = this.cache.get(workspaceId);
    if (!e) return undefined;
    if (e.until < performance.now() && !e.reloading)
      e.reloading = this.fetch(workspaceId)
        .catch(() => {})
        .finally(() => (e.reloading = undefined));
    return e.ws;
  }

  /** The workspace's entry, read from the database when not cached; undefined if no such workspace. */
  async load(workspaceId: string): Promise<WorkspacePrivacy | undefined> {
    return this.get(workspaceId) ?? this.fetch(workspaceId);
  }

  /** The workspace's entry; throws when it does not exist (callers hold an authenticated workspace id). */
  async require(workspaceId: string): Promise<WorkspacePrivacy> {
    const ws = await this.load(workspaceId);
    if (!ws) throw new Error(`workspace ${workspaceId} not found`);
    return ws;
  }

  /** Forgets a workspace (its settings changed here): the next use reads them again. */
  forget(workspaceId: string): void {
    this.cache.delete(workspaceId);
  }

  private async fetch(workspaceId: string): Promise<WorkspacePrivacy | undefined> {
    const [row] = await this.db()
      .select({ id: workspaces.id, secret: workspaces.secret, rawIdentifiers: workspaces.rawIdentifiers })
      .from(workspaces)
      .where(eq(workspaces.id, workspaceId));
    if (!row) return undefined;
    if (this.cache.size >= MAX) this.cache.clear();
    this.cache.set(workspaceId, { ws: row, until: performance.now() + this.ttlMs });
    return row;
  }
}
