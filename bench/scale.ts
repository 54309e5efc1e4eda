/**
 * The data lifecycle at scale (#13): `days` × `per-day` decisions with their events (an impression each,
 * a click for 5 %, a conversion for 1 %), generated set-based (INSERT … SELECT generate_series, one
 * statement per table and day) straight into the migrated schema of a database of its own on the
 * PostgreSQL server (created and dropped), then timed:
 *   - insert throughput into the day-partitioned tables vs unpartitioned copies (same columns and keys),
 *   - the daily report of one campaign (campaignReport, what GET …/report runs, direct from the events),
 *   - the export of one day (decisionPages, what GET …/decisions/export pages through),
 *   - a fraud scan of the windows ending that day (scanCampaign, without the statistics rebuild),
 *   - erasure of one unit (eraseUnit, what DELETE /v1/units/{id} runs),
 *   - dropping the oldest day at retention (dropPartitionsBefore) vs DELETE of that day from the copies.
 *
 *   npm run bench:scale -- [--days 30] [--per-day 100000] [--campaigns 10] [--url postgres://postgres@127.0.0.1:5432/postgres]
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { sql, type SQL } from "drizzle-orm";
import { scanCampaign } from "../src/fraud/scan.ts";
import { dropPartitionsBefore, ensurePartitions } from "../src/privacy/partitions.ts";
import { eraseUnit } from "../src/privacy/erase.ts";
import { unitHash, type WorkspacePrivacy } from "../src/privacy/pseudonym.ts";
import { campaignReport } from "../src/reports/queries.ts";
import { decisionPages } from "../src/store/decision-export.ts";
import { openDatabase, rows, type Db } from "../src/store/db.ts";
import { createDatabase } from "../test/helpers/db.ts";

const { values: args } = parseArgs({
  options: {
    days: { type: "string", default: "30" },
    "per-day": { type: "string", default: "100000" },
    campaigns: { type: "string", default: "10" },
    units: { type: "string", default: "100000" },
    url: { type: "string", default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres" },
  },
});
const DAYS = Number(args.days);
const PER_DAY = Number(args["per-day"]);
const CAMPAIGNS = Number(args.campaigns);
const UNITS = Number(args.units);
const DAY = 86_400_000;

const ms = (t0: number) => performance.now() - t0;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
async function timed<T>(label: string, f: () => Promise<T>, detail: (r: T) => string = () => ""): Promise<T> {
  const t0 = performance.now();
  const r = await f();
  const t = ms(t0);
  console.log(`${label.padEnd(58)} ${(t / 1000).toFixed(3).padStart(9)} s  ${detail(r)}`);
  return r;
}

/** The erased unit's rows: one decision in every UNITS carries its hash, the others a stand-in. */
const ERASED_UNIT = "user-42";

function decisionsOfDay(table: string, ws: string, campaigns: string[], day: number, erasedHash: string): SQL {
  const ids = `{${campaigns.join(",")}}`;
  const step = DAY / PER_DAY;
  return sql`insert into ${sql.identifier(table)} (id, workspace_id, campaign_id, arm_key, propensity, served, context, unit_hash,
      position, strategy_version, created_at, reward, converted)
    select gen_random_uuid(), ${ws}::uuid, (${ids}::uuid[])[1 + g % ${CAMPAIGNS}], 'a' || (g % 3), 1.0 / 3, true,
      jsonb_build_object('device', case when g % 2 = 0 then 'mobile' else 'desktop' end),
      case when g % ${UNITS} = 42 then ${erasedHash} else md5((g % ${UNITS})::text) end,
      0, 1, ${new Date(day).toISOString()}::timestamptz + make_interval(secs => g * ${step / 1000}::float8),
      case when g % 100 = 0 then 1 else 0 end, g % 100 = 0
    from generate_series(0, ${PER_DAY - 1}) g`;
}

function eventsOfDay(table: string, from: string, day: number): SQL {
  const lo = new Date(day).toISOString();
  const hi = new Date(day + DAY).toISOString();
  return sql`insert into ${sql.identifier(table)} (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost,
      occurred_at, received_at, source_ip, source_user_agent, source_publisher, source_placement, attributed)
    select d.workspace_id, t.type || ':' || d.id, d.id, d.campaign_id, d.arm_key, t.type,
      case when t.type = 'conversion' then 30 else 0 end, case when t.type = 'impression' then 0.002 else 0 end,
      least(d.created_at + t.after, ${hi}::timestamptz - interval '1 ms'), least(d.created_at + t.after, ${hi}::timestamptz - interval '1 ms'),
      'ip:' || md5(d.unit_hash), 'ua:browser:' || left(d.unit_hash, 8), 'pub-' || (abs(hashtext(d.id::text)) % 50), 'slot-1', true
    from ${sql.identifier(from)} d
    cross join lateral (values ('impression', interval '1 second', true),
                               ('click', interval '20 seconds', abs(hashtext(d.id::text)) % 100 < 5),
                               ('conversion', interval '10 minutes', d.converted)) as t(type, after, happens)
    where d.created_at >= ${lo}::timestamptz and d.created_at < ${hi}::timestamptz and t.happens`;
}

async function count(db: Db, q: SQL): Promise<number> {
  const [r] = await rows<{ n: number }>(db, q);
  return Number(r.n);
}

async function main(): Promise<void> {
  const created = await createDatabase(args.url, "adbandit_bench_scale_");
  const database = await openDatabase({ databaseUrl: created.url, poolSize: 2 });
  const db = database.db;
  try {
    console.log(
      `bench:scale — ${DAYS} days × ${fmt(PER_DAY)} decisions/day (${fmt(DAYS * PER_DAY)} decisions) over ${CAMPAIGNS} campaigns, ${fmt(UNITS)} units`,
    );
    const [w] = await rows<{ id: string; secret: string }>(
      db,
      sql`insert into workspaces (name) values ('bench scale') returning id, secret`,
    );
    const ws: WorkspacePrivacy = { id: w.id, secret: w.secret, rawIdentifiers: false };
    const campaigns = (
      await rows<{ id: string }>(
        db,
        sql`insert into campaigns (workspace_id, name, kind, objective, strategy)
            select ${ws.id}::uuid, 'scale ' || g, 'creative', 'conversions', '{"type":"thompson"}'::jsonb
            from generate_series(1, ${CAMPAIGNS}) g returning id`,
      )
    ).map((r) => r.id);
    await db.execute(sql`insert into arms (campaign_id, key, name, position)
      select c, 'a' || p, 'arm ' || p, p from unnest(${`{${campaigns.join(",")}}`}::uuid[]) c, generate_series(0, 2) p`);

    const today = Math.floor(Date.now() / DAY) * DAY;
    const first = today - DAYS * DAY;
    const days = Array.from({ length: DAYS }, (_, i) => first + i * DAY);
    for (const t of ["decisions", "events"] as const) await ensurePartitions(db, t, first, today);
    // Unpartitioned copies: the same columns, keys and indexes as the partitioned tables.
    await db.execute(
      sql.raw(`create table decisions_flat (like decisions including defaults);
      alter table decisions_flat add primary key (id, workspace_id, created_at);
      create index on decisions_flat (campaign_id, created_at); create index on decisions_flat (workspace_id, unit_hash);
      create table events_flat (like events including defaults);
      alter table events_flat add primary key (workspace_id, event_id, occurred_at);
      create index on events_flat (decision_id); create index on events_flat (campaign_id, occurred_at);`),
    );
    const erasedHash = unitHash(ws, ERASED_UNIT);

    // Day by day, both layouts, in alternating order, so neither gets the emptier cache or the quieter minute.
    const layouts = [
      { label: "partitioned", dT: "decisions", eT: "events", d: 0, e: 0, dMs: 0, eMs: 0 },
      { label: "unpartitioned", dT: "decisions_flat", eT: "events_flat", d: 0, e: 0, dMs: 0, eMs: 0 },
    ];
    for (const [i, day] of days.entries()) {
      for (const l of i % 2 ? [...layouts].reverse() : layouts) {
        let t0 = performance.now();
        await db.execute(decisionsOfDay(l.dT, ws.id, campaigns, day, erasedHash));
        l.dMs += ms(t0);
        l.d += PER_DAY;
        t0 = performance.now();
        const r = await rows<{ n: number }>(
          db,
          sql`with ins as (${eventsOfDay(l.eT, l.dT, day)} returning 1) select count(*)::int as n from ins`,
        );
        l.eMs += ms(t0);
        l.e += Number(r[0].n);
      }
    }
    for (const r of layouts)
      console.log(
        `insert ${r.label.padEnd(14)} decisions ${fmt(r.d)} in ${(r.dMs / 1000).toFixed(1)} s (${fmt(r.d / (r.dMs / 1000))}/s), ` +
          `events ${fmt(r.e)} in ${(r.eMs / 1000).toFixed(1)} s (${fmt(r.e / (r.eMs / 1000))}/s), ` +
          `together ${fmt((r.d + r.e) / ((r.dMs + r.eMs) / 1000))} rows/s`,
      );
    // ANALYZE outlasts the service's 10 s statement timeout at this size: its own connection, no timeout.
    const admin = postgres(created.url, { max: 1, onnotice: () => {}, connection: { statement_timeout: 0 } });
    await timed("analyze", () => admin.unsafe("analyze"));

    const mid = days[Math.floor(DAYS / 2)];
    const cid = campaigns[0];
    await timed(
      "daily report, one campaign, one day (direct from events)",
      () =>
        campaignReport(db, ws.id, cid, { from: mid, to: mid + DAY, granularity: "hour", source: "direct", seed: 1 }),
      (r) => (r ? "" : "campaign not found"),
    );
    await timed(
      "export of one day, one campaign (decisionPages)",
      async () => {
        let n = 0;
        for await (const page of decisionPages(db, cid, new Date(mid), new Date(mid + DAY))) n += page.length;
        return n;
      },
      (n) => `${fmt(n)} decisions`,
    );
    await timed(
      "fraud scan, one campaign, windows ending that day",
      () =>
        scanCampaign(db, { id: cid, workspaceId: ws.id }, new Date(mid + DAY - 60_000), { recompute: async () => {} }),
      (r) => `${r.findings} findings`,
    );
    const before = await count(db, sql`select count(*)::int as n from decisions where unit_hash = ${erasedHash}`);
    await timed(
      `erasure of one unit (eraseUnit, ${before} decisions)`,
      () => eraseUnit(db, ws, ERASED_UNIT, null),
      (r) => `removed ${r.decisions} decisions, ${r.events} events`,
    );
    await timed(
      "drop the oldest day at retention (partitions)",
      async () => [
        ...(await dropPartitionsBefore(db, "decisions", first + DAY)),
        ...(await dropPartitionsBefore(db, "events", first + DAY)),
      ],
      (r) => r.join(", "),
    );
    const lo = new Date(first).toISOString();
    const hi = new Date(first + DAY).toISOString();
    await timed("delete the oldest day (unpartitioned copies, DELETE)", async () => {
      await admin.unsafe("delete from events_flat where occurred_at >= $1 and occurred_at < $2", [lo, hi]);
      await admin.unsafe("delete from decisions_flat where created_at >= $1 and created_at < $2", [lo, hi]);
    });
    await admin.end();
  } finally {
    await database.close();
    await created.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
