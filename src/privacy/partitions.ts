/**
 * The day partitions of decisions (by created_at) and events (by occurred_at), UTC days, named
 * `<table>_pYYYYMMDD` (migration 0009 made the first ones and a DEFAULT partition for anything outside).
 *
 * - `ensurePartitions` makes the partitions of the coming days ahead (the retention job: today − 1 …
 *   today + 7) and of every day that has rows in the DEFAULT partition, moving those rows into it: the
 *   new partition is filled as a plain table, then attached (the attach checks it; the DEFAULT partition
 *   is scanned, which is cheap since it normally holds nothing).
 * - `dropPartitionsBefore` drops the partitions whose whole day lies before a cutoff: retention by DROP,
 *   not by DELETE (no dead rows, no vacuum).
 * Same SQL on PGlite and PostgreSQL.
 */
import { sql } from "drizzle-orm";
import { rows, type Db } from "../store/db.ts";

export const PARTITIONED = { decisions: "created_at", events: "occurred_at" } as const;
export type PartitionedTable = keyof typeof PARTITIONED;

const DAY = 86_400_000;
const dayName = (table: PartitionedTable, day: number) =>
  `${table}_p${new Date(day).toISOString().slice(0, 10).replaceAll("-", "")}`;
const startOfDay = (t: number) => Math.floor(t / DAY) * DAY;

/** The table's day partitions: name and start of day (ms), oldest first. */
export async function dayPartitions(db: Db, table: PartitionedTable): Promise<{ name: string; day: number }[]> {
  const got = await rows<{ name: string }>(
    db,
    sql`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        join pg_class p on p.oid = i.inhparent where p.relname = ${table} order by c.relname`,
  );
  const out: { name: string; day: number }[] = [];
  for (const { name } of got) {
    const m = new RegExp(`^${table}_p(\\d{4})(\\d{2})(\\d{2})$`).exec(name);
    if (m) out.push({ name, day: Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) });
  }
  return out;
}

/** Makes the day partitions of [from, to] (ms, whole days) and of the days held in the DEFAULT partition. */
export async function ensurePartitions(db: Db, table: PartitionedTable, from: number, to: number): Promise<string[]> {
  const col = sql.identifier(PARTITIONED[table]);
  const have = new Set((await dayPartitions(db, table)).map((p) => p.day));
  const want = new Set<number>();
  for (let d = startOfDay(from); d <= startOfDay(to); d += DAY) want.add(d);
  const stray = await rows<{ d: string }>(
    db,
    sql`select distinct to_char(${col} at time zone 'UTC', 'YYYY-MM-DD') as d from ${sql.identifier(`${table}_default`)}`,
  );
  for (const r of stray) want.add(Date.parse(`${r.d}T00:00:00Z`));
  const made: string[] = [];
  for (const day of [...want].sort((a, b) => a - b)) {
    if (have.has(day)) continue;
    const name = dayName(table, day);
    const lo = new Date(day).toISOString();
    const hi = new Date(day + DAY).toISOString();
    const t = sql.identifier(table);
    const p = sql.identifier(name);
    await db.transaction(async (tx) => {
      await tx.execute(sql`create table ${p} (like ${t} including defaults)`);
      await tx.execute(sql`with m as (
          delete from ${sql.identifier(`${table}_default`)} where ${col} >= ${lo}::timestamptz and ${col} < ${hi}::timestamptz returning *
        ) insert into ${p} select * from m`);
      await tx.execute(
        sql.raw(`alter table "${table}" attach partition "${name}" for values from ('${lo}') to ('${hi}')`),
      );
    });
    made.push(name);
  }
  return made;
}

/** Drops the day partitions that end at or before `cutoff` (ms); returns their names. */
export async function dropPartitionsBefore(db: Db, table: PartitionedTable, cutoff: number): Promise<string[]> {
  const dropped: string[] = [];
  for (const p of await dayPartitions(db, table)) {
    if (p.day + DAY > cutoff) continue;
    await db.execute(sql`drop table ${sql.identifier(p.name)}`);
    dropped.push(p.name);
  }
  return dropped;
}
