/**
 * The stored (pseudonymised) form of an ip or user agent in a test workspace, for suites that assert on
 * findings or blocklist entries: what src/privacy/pseudonym.ts makes of it under the workspace's key.
 */
import { sql } from "drizzle-orm";
import { pseudonymiseEntity } from "../../src/privacy/pseudonym.ts";
import { rows, type Db } from "../../src/store/db.ts";

export async function storedEntity(db: Db, workspaceId: string, type: string, entity: string): Promise<string> {
  const [w] = await rows<{ secret: string; raw: boolean }>(
    db,
    sql`select secret, raw_identifiers as raw from workspaces where id = ${workspaceId}::uuid`,
  );
  return pseudonymiseEntity({ id: workspaceId, secret: w.secret, rawIdentifiers: w.raw }, type, entity);
}
