/**
 * The workspaces' privacy settings and secrets, cached in memory: the decision hot path reads them
 * synchronously (`require`), and awaits a read only for a workspace it has not seen yet. A cached entry is
 * re-read in the background after `ttlMs`, so a settings change made on another replica is seen here
 * within that time (the secret itself never changes).
 */
import { eq } from "drizzle-orm";
import { DomainError } from "../engine/errors.ts";
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
  private get(workspaceId: string): WorkspacePrivacy | undefined {
    const e = this.cache.get(workspaceId);
    if (!e) return undefined;
    if (e.until < performance.now() && !e.reloading)
      e.reloading = this.fetch(workspaceId)
        .catch(() => {})
        .finally(() => (e.reloading = undefined));
    return e.ws;
  }

  /**
   * The workspace's entry: synchronously when cached (the decision hot path then awaits nothing), else
   * read; not_found when there is no such workspace (callers hold an authenticated workspace id).
   */
  require(workspaceId: string): WorkspacePrivacy | Promise<WorkspacePrivacy> {
    return (
      this.get(workspaceId) ??
      this.fetch(workspaceId).then((ws) => {
        if (!ws) throw new DomainError("not_found", "workspace not found");
        return ws;
      })
    );
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
