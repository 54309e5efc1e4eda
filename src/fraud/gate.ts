/**
 * The ingest-time fraud gate (engine `FraudGate`): synchronous and in memory, since it runs inside the
 * ingest transaction. It rejects, per event,
 *   - sources on the workspace's blocklist (ip, user agent, publisher, placement) → "blocklist:<type>";
 *   - impressions and clicks from declared bots and non-browser clients (GIVT) → "declared_bot".
 * The blocklist is cached and reloaded by `refresh` (the jobs call it periodically; the blocklist routes
 * call it after every change, so this replica sees a change at once and others within one period).
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";
import type { DecisionRow, FraudGate, IncomingEvent } from "../engine/types.ts";
import { classifyUserAgent } from "./user-agents.ts";

export const BLOCKABLE = ["ip", "user_agent", "publisher", "placement"] as const;
export type BlockableType = (typeof BLOCKABLE)[number];

const UA_CACHE_MAX = 50_000;

export class CachedFraudGate implements FraudGate {
  private blocked = new Map<string, Set<string>>();
  private uaVerdicts = new Map<string, boolean>();

  constructor(private readonly opts: { declaredBots?: boolean } = {}) {}

  classify(ev: IncomingEvent, decision: Pick<DecisionRow, "workspaceId">): string | null {
    const set = this.blocked.get(decision.workspaceId);
    if (set) {
      const s = ev.source;
      if (s.ip && set.has(`ip\u0000${s.ip}`)) return "blocklist:ip";
      if (s.userAgent && set.has(`user_agent\u0000${s.userAgent}`)) return "blocklist:user_agent";
      if (s.publisher && set.has(`publisher\u0000${s.publisher}`)) return "blocklist:publisher";
      if (s.placement && set.has(`placement\u0000${s.placement}`)) return "blocklist:placement";
    }
    const ua = ev.source.userAgent;
    if (this.opts.declaredBots !== false && ev.type !== "conversion" && ua && this.isBot(ua)) return "declared_bot";
    return null;
  }

  private isBot(ua: string): boolean {
    let v = this.uaVerdicts.get(ua);
    if (v === undefined) {
      if (this.uaVerdicts.size >= UA_CACHE_MAX) this.uaVerdicts.clear();
      this.uaVerdicts.set(ua, (v = classifyUserAgent(ua).bot));
    }
    return v;
  }

  /** Replaces the cached blocklist by the database's (expired entries left out). */
  async refresh(db: Db, now = new Date()): Promise<void> {
    const list = await rows<{ workspace_id: string; entity_type: string; entity: string }>(
      db,
      sql`select workspace_id, entity_type, entity from blocklist where expires_at is null or expires_at > ${now.toISOString()}::timestamptz`,
    );
    const next = new Map<string, Set<string>>();
    for (const r of list) {
      let s = next.get(r.workspace_id);
      if (!s) next.set(r.workspace_id, (s = new Set()));
      s.add(`${r.entity_type}\u0000${r.entity}`);
    }
    this.blocked = next;
  }

  /** Test/route hook: is this source blocked for the workspace right now (per the cache)? */
  isBlocked(workspaceId: string, type: BlockableType, entity: string): boolean {
    return this.blocked.get(workspaceId)?.has(`${type}\u0000${entity}`) ?? false;
  }
}
