/**
 * Timing of a fraud scan over a day of events on PostgreSQL (`measure.ts --timing`): a throwaway database on
 * the DATABASE_URL server gets one campaign with `n` events over the last 24 h (set-based: generate_series),
 * ~94 % impressions, 5 % clicks, ~1 % conversions, 40 publishers × 3 placements, ~50,000 ips, one injected
 * ip burst; then it times what the old scan read every minute (every valid event of 24 h, into memory) and
 * the scan (SQL aggregates + detectors + recording), first and steady-state runs. Figures only, no
 * assertions (the machine is shared).
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { openDatabase, rows, sql } from "../store/db.ts";
import { recomputeArmStats } from "../engine/recompute.ts";
import { DETECTION_DEFAULTS, windowsOf } from "./detect.ts";
import { loadAggregates, loadConversionLinks, scanCampaign } from "./scan.ts";

const WS = "00000000-0000-4000-8000-0000000be001";
const CAMPAIGN = "00000000-0000-4000-8000-0000000bc001";

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function timeScan(n: number, _seed: number): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("--timing needs DATABASE_URL (a PostgreSQL server)");
  const name = `adbandit_scanbench_${randomBytes(4).toString("hex")}`;
  const admin = postgres(withDatabase(url, "postgres"), { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  const database = await openDatabase({ databaseUrl: withDatabase(url, name), poolSize: 2 });
  const db = database.db;
  const t = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const r = await f();
    return [r, performance.now() - t0];
  };
  try {
    const end = Math.floor(Date.now() / 60_000) * 60_000;
    const start = new Date(end - 86_400_000).toISOString();
    const d = Math.ceil(n / 20);
    await db.execute(sql`insert into workspaces (id, name) values (${WS}::uuid, 'bench')`);
    await db.execute(sql`insert into campaigns (id, workspace_id, name, kind, objective, strategy)
        values (${CAMPAIGN}::uuid, ${WS}::uuid, 'bench', 'creative', 'conversions', '{"type":"thompson"}'::jsonb)`);
    await db.execute(
      sql`insert into arms (campaign_id, key, position) values (${CAMPAIGN}::uuid, 'a', 0), (${CAMPAIGN}::uuid, 'b', 1)`,
    );
    const [, tGen] = await t(async () => {
      await db.execute(sql`insert into decisions (id, workspace_id, campaign_id, arm_key, propensity, strategy_version, created_at)
          select md5('d' || i)::uuid, ${WS}::uuid, ${CAMPAIGN}::uuid, case when i % 2 = 0 then 'a' else 'b' end, 0.5, 1,
                 ${start}::timestamptz + (i * 86400.0 / ${d}) * interval '1 second'
          from generate_series(0, ${d - 1}::int) i`);
      // 20 events per decision: 18 impressions, a click, then (1 in 4) a conversion or one more impression.
      // In slices of 50,000 rows (the connections' statement timeout is 10 s).
      for (let lo = 0; lo < n; lo += 50_000)
        await db.execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, value, cost,
            occurred_at, source_ip, source_user_agent, source_publisher, source_placement, attributed)
          select ${WS}::uuid, 'e' || g, md5('d' || (g / 20))::uuid, ${CAMPAIGN}::uuid,
                 case when (g / 20) % 2 = 0 then 'a' else 'b' end,
                 case when g % 20 = 19 and (g / 800) % 4 = 0 then 'conversion' when g % 20 = 18 then 'click' else 'impression' end,
                 case when g % 20 = 19 and (g / 800) % 4 = 0 then 40 else 0 end,
                 case when g % 20 = 18 then 0.4 else 0.002 end,
                 ${start}::timestamptz + ((g / 20) * 86400.0 / ${d} + g % 20) * interval '1 second',
                 case when g % 20 = 19 and (g / 800) % 4 = 0 then null else '10.' || ((g / 20) % 200) || '.' || ((g / 4000) % 250) || '.1' end,
                 (array['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0', 'Mozilla/5.0 (Macintosh) Safari/605.1.15',
                        'Mozilla/5.0 (iPhone) Mobile/15E148 Safari/604.1', 'Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile'])[(g / 20) % 4 + 1],
                 'pub-' || ((g / 20) % 40), 'pub-' || ((g / 20) % 40) || '/pl-' || ((g / 800) % 3), true
          from generate_series(${lo}::int, ${Math.min(n, lo + 50_000) - 1}::int) g`);
      // One ip bursting 200 clicks on pub-7 over 50 s, 20 minutes ago.
      await db.execute(sql`insert into events (workspace_id, event_id, decision_id, campaign_id, arm_key, type, cost, occurred_at,
            source_ip, source_user_agent, source_publisher, source_placement, attributed)
          select ${WS}::uuid, 'burst-' || i, md5('d' || (${d - 100} + i % 50))::uuid, ${CAMPAIGN}::uuid, 'a', 'click', 0.4,
                 ${new Date(end - 20 * 60_000).toISOString()}::timestamptz + (i * 0.25) * interval '1 second',
                 '198.51.100.200', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0', 'pub-7', 'pub-7/pl-0', true
          from generate_series(0, 199) i`);
      await db.execute(sql`analyze events`);
      await db.execute(sql`analyze decisions`);
    });
    const [[count]] = await t(() => rows<{ n: number }>(db, sql`select count(*)::int as n from events`));
    // What the old scan read every minute: every valid event of the last 24 h, into memory (twice, two
    // passes). On its own connection without the service's 10 s statement timeout, which it can exceed.
    const raw = postgres(withDatabase(url, name), { max: 1, onnotice: () => {} });
    const [old, tOld] = await t(() =>
      raw.unsafe(
        `select event_id, decision_id, type, value, cost, occurred_at, source_ip, source_user_agent, source_publisher, source_placement
         from events where campaign_id = $1::uuid and invalid_reason is null and occurred_at >= $2::timestamptz and occurred_at < $3::timestamptz`,
        [CAMPAIGN, start, new Date(end).toISOString()],
      ),
    );
    await raw.end({ timeout: 5 });
    let tRecompute = 0;
    const recompute = async (id: string) => {
      const t0 = performance.now();
      await recomputeArmStats(db, id);
      tRecompute += performance.now() - t0;
    };
    const camp = { id: CAMPAIGN, workspaceId: WS };
    const [first, tFirst] = await t(() => scanCampaign(db, camp, new Date(end), { recompute }));
    const byDetector = await rows<{ detector: string; n: number; e: number }>(
      db,
      sql`select detector, count(*)::int as n, sum(invalidated_events)::int as e from anomalies group by 1 order by 1`,
    );
    const w = windowsOf(end, DETECTION_DEFAULTS);
    const [agg, tAgg] = await t(() => loadAggregates(db, CAMPAIGN, w));
    const [, tLinks] = await t(() => loadConversionLinks(db, CAMPAIGN, new Date(w.long.start), new Date(w.now)));
    const [again, tAgain] = await t(() => scanCampaign(db, camp, new Date(end), { recompute }));
    const [next, tNext] = await t(() => scanCampaign(db, camp, new Date(end + 60_000), { recompute }));
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `PostgreSQL, ${count.n.toLocaleString("en")} events over 24 h in one campaign (generated in ${s(tGen)})\n`,
    );
    console.log("| step | time | rows / result |\n|---|--:|---|");
    console.log(
      `| old scan's read: every valid event of 24 h into memory (per pass; it made two) | ${s(tOld)} | ${old.length.toLocaleString("en")} rows |`,
    );
    console.log(
      `| scan, first run (aggregates, detectors, recording; recompute excluded) | ${s(tFirst - tRecompute)} | ${first.recorded} findings, ${first.invalidated} events invalidated |`,
    );
    console.log(`| … its findings | | ${byDetector.map((b) => `${b.detector}: ${b.n} (${b.e} events)`).join(", ")} |`);
    console.log(`| arm statistics rebuilt after it (Engine.recompute's store part) | ${s(tRecompute)} | |`);
    console.log(
      `| … of which one read of the aggregates | ${s(tAgg)} | ${agg.hours.length} hour cells, ${agg.minutes.length} minute cells, ${agg.baseline.length} baseline rows, ${agg.userAgents.length} user-agent cells, ${agg.repeatClicks.length} repeated clicks, ${agg.links.length} conversions |`,
    );
    console.log(`| … of which the conversions with their decision and first click | ${s(tLinks)} | |`);
    console.log(
      `| scan again, same minute (steady state) | ${s(tAgain)} | ${again.recorded} findings, ${again.invalidated} invalidated |`,
    );
    console.log(`| scan one minute later | ${s(tNext)} | ${next.recorded} findings, ${next.invalidated} invalidated |`);
  } finally {
    await database.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end({ timeout: 5 });
  }
}
