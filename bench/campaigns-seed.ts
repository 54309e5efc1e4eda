/**
 * Set-based seeding for `npm run bench:campaigns`: `count` Thompson-sampling campaigns of `arms` arms in
 * one workspace, each arm with all-time totals (arm_stats) and, of them, a bucket two hours old
 * (arm_stat_buckets) — five INSERT … SELECT statements over generate_series, not the API.
 */
import type postgres from "postgres";

export async function seedCampaigns(
  sql: postgres.Sql,
  workspaceId: string,
  count: number,
  arms: number,
  tag: string,
): Promise<string[]> {
  return sql.begin(async (tx) => {
    const ids = await tx<{ id: string }[]>`
      insert into campaigns (workspace_id, name, kind, objective, strategy)
      select ${workspaceId}::uuid, ${tag} || ' ' || g, 'creative', 'conversions', '{"type":"thompson"}'::jsonb
      from generate_series(1, ${count}) g
      returning id`;
    const list = ids.map((r) => r.id);
    const idArray = `{${list.join(",")}}`;
    await tx`
      insert into arms (campaign_id, key, name, position)
      select c, 'a' || p, 'arm ' || p, p from unnest(${idArray}::uuid[]) c, generate_series(0, ${arms - 1}) p`;
    // n in 100..1000, a success rate in 1–6 %, a quarter of it in a bucket two hours old
    await tx`
      insert into arm_stats (campaign_id, arm_key, n, sum, sum_sq)
      select c, 'a' || p, n, s, s from (
        select c, p, n, floor(n * (0.01 + 0.05 * random())) as s
        from (select c, p, floor(100 + 900 * random()) as n from unnest(${idArray}::uuid[]) c, generate_series(0, ${arms - 1}) p) x
      ) y`;
    await tx`
      insert into arm_stat_buckets (campaign_id, arm_key, bucket_start, n, sum, sum_sq, converted, reward_sum, reward_sum_sq)
      select campaign_id, arm_key, date_trunc('hour', now()) - interval '2 hours', floor(n / 4), 0, 0, floor(sum / 4), floor(sum / 4), floor(sum / 4)
      from arm_stats where campaign_id = any(${idArray}::uuid[])`;
    return list;
  });
}
