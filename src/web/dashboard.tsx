/** @jsxImportSource hono/jsx */
/**
 * The marketer's dashboard at `/`: server-rendered pages (hono/jsx) over the service's own API, called
 * in-process with the session's key (api.ts), plus a small client script (static/app.js) for charts and
 * progress. Forms post to the dashboard, which checks the session and CSRF token and forwards to the API;
 * the API's validation messages are shown beside the fields they name.
 */
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Context, Env, Hono } from "hono";
import { parseScenarioText } from "../../simulations/scenario.ts";
import { STRATEGIES } from "../../strategies/index.ts";
import type { AppDeps } from "../api/env.ts";
import { BLOCKABLE } from "../fraud/gate.ts";
import { Api, type ApiReply, fieldErrors, type RequestApp } from "./api.ts";
import { interval, money, num, pct } from "./format.ts";
import { BudgetSection } from "./budget.tsx";
import { ActionButton, Chart, Csrf, Field, Head, Layout } from "./layout.tsx";
import { crossOrigin, Sessions } from "./session.ts";

const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "simulations", "scenarios");
/** The strategy types the engine ships, as the create form offers them. */
const STRATEGY_TYPES = Object.keys(STRATEGIES);
const HOUR = 3_600_000;

type Form = Record<string, string | File>;
/** A row of an API answer (shaped by the API's schemas; the dashboard only displays it). */
// biome-ignore lint/suspicious/noExplicitAny: API answers, already validated by the API's own schemas
type Row = any;
interface Session {
  api: Api;
  csrf: string;
  /** The key's role; only admin keys may change campaigns, findings or simulations (the API checks too). */
  role: "reader" | "writer" | "admin";
  admin: boolean;
}

function shippedScenarios(): string[] {
  try {
    return readdirSync(SCENARIO_DIR)
      .filter((f) => /\.(json|ya?ml)$/.test(f))
      .sort();
  } catch {
    return [];
  }
}

const str = (f: Form, k: string) => {
  const v = f[k];
  return typeof v === "string" ? v.trim() : "";
};
const enc = encodeURIComponent;

/** Period of a campaign page: the last day, the last week, or a custom [from, to). */
export function period(q: Record<string, string | undefined>, now = Date.now()) {
  const kind = q.period === "day" || q.period === "custom" ? q.period : "week";
  let to = now;
  let from = now - 7 * 24 * HOUR;
  if (kind === "day") from = now - 24 * HOUR;
  if (kind === "custom") {
    const f = Date.parse(q.from ?? "");
    const t = Date.parse(q.to ?? "");
    if (Number.isFinite(f)) from = f;
    if (Number.isFinite(t)) to = t + (q.to && q.to.length <= 10 ? 24 * HOUR : 0);
  }
  return { kind, from, to, granularity: to - from <= 8 * 24 * HOUR ? "hour" : "day" };
}

function errorPage(c: Context, s: Session | null, r: ApiReply) {
  const status = r.status >= 400 && r.status < 600 ? r.status : 500;
  return c.html(
    <Layout title="Error" signedIn={!!s} csrf={s?.csrf}>
      <h1>Something went wrong</h1>
      <p role="alert">{r.body?.error?.message ?? `The API answered ${r.status}.`}</p>
      <p>
        <a href="/campaigns">Back to the campaigns</a>
      </p>
    </Layout>,
    status as 400,
  );
}

export function registerDashboard<E extends Env>(app: Hono<E>, deps: AppDeps): void {
  const sessions = new Sessions(deps.adminKey);
  const requestApp = app as unknown as RequestApp;

  /** The session of the request (key still valid), or null. */
  const session = async (c: Context): Promise<Session | null> => {
    const cookie = sessions.cookie(c);
    const key = sessions.open(cookie);
    if (!cookie || !key) return null;
    const k = await deps.resolveKey(key).catch(() => null);
    if (!k) return null;
    return { api: new Api(requestApp, key), csrf: sessions.csrfToken(cookie), role: k.role, admin: k.role === "admin" };
  };

  /** GET pages: a session or the sign-in page. */
  const page = (handler: (c: Context, s: Session) => Promise<Response>) => async (c: Context) => {
    const s = await session(c);
    if (!s) return c.redirect(`/login?next=${enc(c.req.path)}`, 303);
    c.header("cache-control", "no-store");
    return handler(c, s);
  };

  /** POST actions: a session, the same origin and a valid CSRF token, or 403. */
  const action = (handler: (c: Context, s: Session, form: Form) => Promise<Response>) => async (c: Context) => {
    const s = await session(c);
    if (!s) return c.redirect("/login", 303);
    const form = (await c.req.parseBody()) as Form;
    const token = typeof form._csrf === "string" ? form._csrf : c.req.header("x-csrf-token");
    if (crossOrigin(c) || !sessions.checkCsrf(sessions.cookie(c)!, token))
      return c.text("Forbidden: this form did not come from this dashboard (CSRF check failed).", 403);
    return handler(c, s, form);
  };

  // ---- sign in / out -----------------------------------------------------------------------------------
  const loginPage = (c: Context, error?: string, status: 200 | 401 = 200) => {
    const next = c.req.query("next") ?? "/campaigns";
    return c.html(
      <Layout title="Sign in" signedIn={false}>
        <h1>Sign in</h1>
        <p>Paste an API key of your workspace (the one POST /v1/workspaces returned, or one made with /v1/keys).</p>
        <form method="post" action={`/login?next=${enc(next)}`} class="card narrow">
          <Field name="apiKey" label="Workspace API key" type="password" required error={error} />
          <button type="submit">Sign in</button>
        </form>
      </Layout>,
      status,
    );
  };
  app.get("/login", async (c) => ((await session(c)) ? c.redirect("/campaigns", 303) : loginPage(c)));
  app.post("/login", async (c) => {
    if (crossOrigin(c)) return c.text("Forbidden: cross-origin sign-in.", 403);
    const form = (await c.req.parseBody()) as Form;
    const key = str(form, "apiKey");
    const ws = key ? await deps.workspaceForKey(key).catch(() => null) : null;
    if (!ws) return loginPage(c, key ? "This key is not valid (unknown or revoked)." : "Enter an API key.", 401);
    sessions.start(c, key);
    const next = c.req.query("next") ?? "/campaigns";
    return c.redirect(next.startsWith("/") && !next.startsWith("//") ? next : "/campaigns", 303);
  });
  app.post(
    "/logout",
    action(async (c) => {
      sessions.end(c);
      return c.redirect("/login", 303);
    }),
  );
  app.get("/", async (c) => c.redirect((await session(c)) ? "/campaigns" : "/login", 303));

  // ---- read-only JSON for the client script (progress polling) ------------------------------------------
  app.get("/ui/api/simulations/:id", async (c) => {
    const s = await session(c);
    if (!s) return c.json({ error: { code: "unauthorized", message: "sign in" } }, 401);
    const r = await s.api.get(`/v1/simulations/${enc(c.req.param("id")!)}`);
    if (r.status !== 200) return c.json(r.body, r.status as 404);
    const { results: _results, ...view } = r.body;
    return c.json(view, 200);
  });

  // ---- campaigns ----------------------------------------------------------------------------------------
  const campaignsPage = async (
    c: Context,
    s: Session,
    form?: { values: Record<string, string>; errors: Record<string, string>; message?: string },
  ) => {
    const r = await s.api.get("/v1/campaigns");
    if (r.status !== 200) return errorPage(c, s, r);
    const campaigns = r.body.campaigns as {
      id: string;
      name: string;
      status: string;
      kind: string;
      objective: string;
    }[];
    const heads = await Promise.all(
      campaigns.map(async (camp) => {
        const a = await s.api.get(`/v1/campaigns/${camp.id}/arms`);
        const arms = (a.body?.arms ?? []) as {
          decisions: number;
          conversions: number;
          revenue: number;
          spend: number;
        }[];
        const sum = (k: "decisions" | "conversions" | "revenue" | "spend") => arms.reduce((t, x) => t + (x[k] ?? 0), 0);
        return {
          decisions: sum("decisions"),
          conversions: sum("conversions"),
          revenue: sum("revenue"),
          spend: sum("spend"),
        };
      }),
    );
    const v = form?.values ?? {};
    const e = form?.errors ?? {};
    return c.html(
      <Layout title="Campaigns" signedIn csrf={s.csrf}>
        <h1>Campaigns</h1>
        {campaigns.length === 0 ? (
          <p>No campaigns yet: create one below.</p>
        ) : (
          <div class="scroll">
            <table>
              <caption class="sr">Campaigns with their status and figures so far</caption>
              <Head
                cols={[
                  "Campaign",
                  "Status",
                  "Objective",
                  "#Decisions",
                  "#Conversions",
                  "#Revenue",
                  "#Spend",
                  "#Profit",
                ]}
              />
              <tbody>
                {campaigns.map((camp, i) => (
                  <tr data-campaign={camp.id}>
                    <th scope="row">
                      <a href={`/campaigns/${camp.id}`}>{camp.name}</a>
                    </th>
                    <td>
                      <span class={`badge ${camp.status}`}>{camp.status}</span>
                    </td>
                    <td>{camp.objective}</td>
                    <td class="n">{num(heads[i].decisions, 0)}</td>
                    <td class="n">{num(heads[i].conversions, 0)}</td>
                    <td class="n">{money(heads[i].revenue)}</td>
                    <td class="n">{money(heads[i].spend)}</td>
                    <td class="n">{money(heads[i].revenue - heads[i].spend)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {s.admin ? <CreateHeading /> : <ReadOnly role={s.role} />}
        {s.admin && (
          <form method="post" action="/campaigns" class="card" aria-labelledby="create">
            <Csrf token={s.csrf} />
            {form?.message && (
              <p class="error" role="alert">
                {form.message}
              </p>
            )}
            <div class="grid">
              <Field name="name" label="Name" value={v.name} error={e.name} required />
              <Field name="kind" label="Kind" error={e.kind}>
                {["creative", "send_time", "channel"].map((k) => (
                  <option value={k} selected={v.kind === k}>
                    {k}
                  </option>
                ))}
              </Field>
              <Field name="objective" label="Objective" error={e.objective}>
                {["conversions", "revenue", "profit"].map((k) => (
                  <option value={k} selected={v.objective === k}>
                    {k}
                  </option>
                ))}
              </Field>
              <Field name="strategy" label="Strategy" error={e.strategy}>
                {STRATEGY_TYPES.map((k) => (
                  <option value={k} selected={(v.strategy ?? "thompson") === k}>
                    {k}
                  </option>
                ))}
              </Field>
              <Field
                name="attributionWindowHours"
                label="Attribution window (hours)"
                value={v.attributionWindowHours}
                error={e.attributionWindowHours}
                hint="Empty: 168 (a week)"
              />
            </div>
            <Field
              name="arms"
              label="Arms"
              textarea
              value={v.arms}
              error={e.arms}
              hint="One per line: key, name, cost per decision (name and cost optional). Empty for send_time: the 24 hours."
            />
            <Field
              name="contextFeatures"
              label="Context features"
              textarea
              rows={2}
              value={v.contextFeatures}
              error={e.contextFeatures}
              hint="For contextual strategies, one per line: name:numeric or name:categorical"
            />
            <button type="submit">Create campaign</button>
          </form>
        )}
      </Layout>,
      form ? 400 : 200,
    );
  };
  app.get(
    "/campaigns",
    page((c, s) => campaignsPage(c, s)),
  );
  app.post(
    "/campaigns",
    action(async (c, s, f) => {
      const values = Object.fromEntries(
        ["name", "kind", "objective", "strategy", "attributionWindowHours", "arms", "contextFeatures"].map((k) => [
          k,
          str(f, k),
        ]),
      );
      const body: Record<string, unknown> = {
        name: values.name,
        kind: values.kind,
        objective: values.objective,
        strategy: { type: values.strategy },
      };
      if (values.attributionWindowHours) {
        const n = Number(values.attributionWindowHours);
        body.attributionWindowHours = Number.isFinite(n) ? n : values.attributionWindowHours;
      }
      const armLines = values.arms.split(/\r?\n/).filter((l) => l.trim());
      if (armLines.length > 0)
        body.arms = armLines.map((l) => {
          const [key, name, cost] = l.split(",").map((x) => x.trim());
          const arm: Record<string, unknown> = { key };
          if (name) arm.name = name;
          if (cost) arm.cost = Number.isFinite(Number(cost)) ? Number(cost) : cost;
          return arm;
        });
      const featureLines = values.contextFeatures.split(/\r?\n/).filter((l) => l.trim());
      if (featureLines.length > 0)
        body.contextFeatures = featureLines.map((l) => {
          const [name, type] = l.split(":").map((x) => x.trim());
          return { name, type: type || "categorical" };
        });
      const r = await s.api.post("/v1/campaigns", body);
      if (r.status === 201) return c.redirect(`/campaigns/${r.body.id}`, 303);
      if (r.status !== 400) return errorPage(c, s, r);
      const fe = fieldErrors(r);
      const errors: Record<string, string> = {};
      for (const [path, msg] of Object.entries(fe.byField)) {
        const field = path.split(".")[0];
        errors[field] ??= path === field ? msg : `${path}: ${msg}`;
      }
      if (Object.keys(errors).length === 0) errors.name = fe.message;
      return campaignsPage(c, s, { values, errors, message: "The campaign was not created: see the fields marked." });
    }),
  );

  app.post(
    "/campaigns/:id/status",
    action(async (c, s, f) => {
      const id = c.req.param("id")!;
      const r = await s.api.patch(`/v1/campaigns/${enc(id)}`, { status: str(f, "status") });
      if (r.status !== 200) return errorPage(c, s, r);
      return c.redirect(`/campaigns/${id}`, 303);
    }),
  );
  app.post(
    "/campaigns/:id/arms",
    action(async (c, s, f) => {
      const id = c.req.param("id")!;
      const body: Record<string, unknown> = { key: str(f, "key") };
      if (str(f, "name")) body.name = str(f, "name");
      if (str(f, "cost")) body.cost = Number.isFinite(Number(str(f, "cost"))) ? Number(str(f, "cost")) : str(f, "cost");
      const r = await s.api.post(`/v1/campaigns/${enc(id)}/arms`, body);
      if (r.status === 201) return c.redirect(`/campaigns/${id}#arms`, 303);
      if (r.status === 400 || r.status === 409) {
        const fe = fieldErrors(r);
        return campaignPage(c, s, id, { arm: { values: body as Record<string, string>, error: fe.message } });
      }
      return errorPage(c, s, r);
    }),
  );
  app.post(
    "/campaigns/:id/arms/:key/status",
    action(async (c, s, f) => {
      const id = c.req.param("id")!;
      const r = await s.api.patch(`/v1/campaigns/${enc(id)}/arms/${enc(c.req.param("key")!)}`, {
        status: str(f, "status"),
      });
      if (r.status !== 200) return errorPage(c, s, r);
      return c.redirect(`/campaigns/${id}#arms`, 303);
    }),
  );

  // ---- one campaign -------------------------------------------------------------------------------------
  const campaignPage = async (
    c: Context,
    s: Session,
    id: string,
    extra: { arm?: { values: Record<string, string>; error: string }; evaluation?: ApiReply; policy?: string } = {},
  ) => {
    const q = c.req.query();
    const p = period(q);
    const range = `from=${enc(new Date(p.from).toISOString())}&to=${enc(new Date(p.to).toISOString())}`;
    const [campR, armsR, repR] = await Promise.all([
      s.api.get(`/v1/campaigns/${enc(id)}`),
      s.api.get(`/v1/campaigns/${enc(id)}/arms`),
      s.api.get(`/v1/campaigns/${enc(id)}/report?${range}&granularity=${p.granularity}`),
    ]);
    if (campR.status !== 200) return errorPage(c, s, campR);
    if (repR.status !== 200) return errorPage(c, s, repR);
    const camp = campR.body;
    const arms = (armsR.body?.arms ?? []) as Record<string, Row>[];
    const rep = repR.body;
    const features = (camp.contextFeatures ?? []) as { name: string; type: string }[];
    const segment = q.segment ?? "";
    let seg: ApiReply | null = null;
    if (segment) seg = await s.api.get(`/v1/campaigns/${enc(id)}/report?${range}&segment=${enc(segment)}`);
    const byKey = new Map<string, Row>(rep.total.arms.map((a: Row) => [a.armKey, a]));
    const lift = rep.earned.lift;
    const sharesSpec = {
      type: "line",
      stacked: true,
      labels: rep.periods.map((x: Row) => x.start),
      granularity: p.granularity,
      series: rep.total.arms.map((a: Row) => ({
        label: a.armKey,
        data: rep.periods.map((x: Row) => x.arms.find((y: Row) => y.armKey === a.armKey)?.share ?? 0),
      })),
      yLabel: "share of decisions",
      percent: true,
    };
    const periodLink = (k: string, label: string) => (
      <a href={`/campaigns/${id}?period=${k}`} aria-current={p.kind === k ? "page" : undefined} class="tab">
        {label}
      </a>
    );
    const ev = extra.evaluation;
    return c.html(
      <Layout title={camp.name} signedIn csrf={s.csrf}>
        <p class="crumbs">
          <a href="/campaigns">Campaigns</a> ›
        </p>
        <h1>
          {camp.name} <span class={`badge ${camp.status}`}>{camp.status}</span>
        </h1>
        <p class="meta">
          {camp.kind} · objective <strong>{camp.objective}</strong> · strategy <strong>{camp.strategy.type}</strong> ·
          attribution window {camp.attributionWindowHours} h
        </p>
        {!s.admin && <ReadOnly role={s.role} />}
        <div class="actions" hidden={!s.admin}>
          {camp.status === "active" && (
            <ActionButton
              action={`/campaigns/${id}/status`}
              csrf={s.csrf}
              label="Pause"
              fields={{ status: "paused" }}
            />
          )}
          {camp.status === "paused" && (
            <ActionButton
              action={`/campaigns/${id}/status`}
              csrf={s.csrf}
              label="Resume"
              fields={{ status: "active" }}
            />
          )}
          {camp.status !== "archived" && (
            <ActionButton
              action={`/campaigns/${id}/status`}
              csrf={s.csrf}
              label="Archive"
              fields={{ status: "archived" }}
              danger
            />
          )}
        </div>

        <nav class="periods" aria-label="Period">
          {periodLink("day", "Last day")}
          {periodLink("week", "Last week")}
          <form method="get" action={`/campaigns/${id}`} class="inline custom">
            <input type="hidden" name="period" value="custom" />
            <label for="from">From</label>
            <input id="from" name="from" type="date" value={p.kind === "custom" ? (q.from ?? "") : ""} />
            <label for="to">To</label>
            <input id="to" name="to" type="date" value={p.kind === "custom" ? (q.to ?? "") : ""} />
            <button type="submit">Show</button>
          </form>
        </nav>
        <p class="range">
          {new Date(rep.from).toUTCString()} – {new Date(rep.to).toUTCString()}
        </p>

        <section class="verdict card" aria-labelledby="verdict-h">
          <h2 id="verdict-h">Verdict</h2>
          <p data-verdict>{rep.verdict}</p>
          {rep.total.ranking.note && <p class="note">{rep.total.ranking.note}</p>}
        </section>

        <BudgetSection budget={rep.budget} />

        <section aria-labelledby="earned-h">
          <h2 id="earned-h">What the bandit earned</h2>
          <dl class="figures">
            <div>
              <dt>Decisions</dt>
              <dd data-figure="decisions">{num(rep.total.campaign.decisions, 0)}</dd>
            </div>
            <div>
              <dt>Conversions</dt>
              <dd data-figure="conversions">{num(rep.total.campaign.conversions, 0)}</dd>
            </div>
            <div>
              <dt>Revenue</dt>
              <dd data-figure="revenue">{money(rep.total.campaign.revenue)}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd>{money(rep.total.campaign.cost)}</dd>
            </div>
            <div>
              <dt>Profit</dt>
              <dd>{money(rep.total.campaign.profit)}</dd>
            </div>
            <div>
              <dt>Lift over an even split</dt>
              <dd data-figure="lift">{interval(lift.relativeLiftInterval, "pct")}</dd>
            </div>
            <div>
              <dt>Lift per decision ({camp.objective})</dt>
              <dd>{interval(lift.liftPerDecision)}</dd>
            </div>
            <div>
              <dt>Invalid traffic removed</dt>
              <dd data-figure="invalid">
                {num(rep.invalid.total.clicks, 0)} clicks, {num(rep.invalid.total.conversions, 0)} conversions (
                {money(rep.invalid.total.revenue)} revenue)
              </dd>
            </div>
          </dl>
        </section>

        <section aria-labelledby="arms-h" id="arms">
          <h2 id="arms-h">Arms</h2>
          <div class="scroll">
            <table class="arms">
              <caption class="sr">Per arm: what the bandit believes and what the arm earned in the period</caption>
              <Head
                cols={[
                  "Arm",
                  "Status",
                  "#Posterior mean [95 %]",
                  "#P(best)",
                  "#Traffic share",
                  "#Decisions",
                  "#Conversions",
                  "#Conv. / decision",
                  "#Revenue",
                  "#Cost",
                  "#Profit",
                  "#ROI",
                  "#ROAS",
                  "#CPA",
                  ...(s.admin ? ["Actions"] : []),
                ]}
              />
              <tbody>
                {arms.map((a) => {
                  const r = byKey.get(a.key);
                  return (
                    <tr data-arm={a.key}>
                      <th scope="row">{a.name ? `${a.name} (${a.key})` : a.key}</th>
                      <td>
                        <span class={`badge ${a.status}`}>{a.status}</span>
                      </td>
                      <td class="n">
                        {num(a.posteriorMean, 4)} [{num(a.interval95[0], 4)}, {num(a.interval95[1], 4)}]
                      </td>
                      <td class="n" data-col="pbest">
                        {pct(r?.probabilityBest)}
                      </td>
                      <td class="n">{pct(a.trafficShare)}</td>
                      <td class="n" data-col="decisions">
                        {num(r?.decisions ?? 0, 0)}
                      </td>
                      <td class="n" data-col="conversions">
                        {num(r?.conversions ?? 0, 0)}
                      </td>
                      <td class="n">{interval(r?.conversionsPerDecision, "pct")}</td>
                      <td class="n">{money(r?.revenue ?? 0)}</td>
                      <td class="n">{money(r?.cost ?? 0)}</td>
                      <td class="n">{money(r?.profit ?? 0)}</td>
                      <td class="n">{interval(r?.roi, "pct")}</td>
                      <td class="n">{interval(r?.roas)}</td>
                      <td class="n">{interval(r?.cpa, "money")}</td>
                      <td hidden={!s.admin}>
                        {a.status === "active" && (
                          <ActionButton
                            action={`/campaigns/${id}/arms/${enc(a.key)}/status`}
                            csrf={s.csrf}
                            label={`Pause ${a.key}`}
                            fields={{ status: "paused" }}
                          />
                        )}
                        {a.status === "paused" && (
                          <ActionButton
                            action={`/campaigns/${id}/arms/${enc(a.key)}/status`}
                            csrf={s.csrf}
                            label={`Resume ${a.key}`}
                            fields={{ status: "active" }}
                          />
                        )}
                        {a.status !== "archived" && (
                          <ActionButton
                            action={`/campaigns/${id}/arms/${enc(a.key)}/status`}
                            csrf={s.csrf}
                            label={`Archive ${a.key}`}
                            fields={{ status: "archived" }}
                            danger
                          />
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <form
            method="post"
            action={`/campaigns/${id}/arms`}
            class="card inline-form"
            aria-label="Add an arm"
            hidden={!s.admin}
          >
            <Csrf token={s.csrf} />
            <Field name="key" label="New arm key" value={extra.arm?.values.key} error={extra.arm?.error} required />
            <Field name="name" label="Name (optional)" value={extra.arm?.values.name} />
            <Field name="cost" label="Cost per decision (optional)" value={String(extra.arm?.values.cost ?? "")} />
            <button type="submit">Add arm</button>
          </form>
        </section>

        <section aria-labelledby="share-h">
          <h2 id="share-h">Traffic share over time</h2>
          {rep.periods.length === 0 ? (
            <p>No decisions in this period.</p>
          ) : (
            <Chart id="shares" label="Share of decisions per arm over time" spec={sharesSpec} />
          )}
        </section>

        <section aria-labelledby="seg-h" id="segments">
          <h2 id="seg-h">By segment</h2>
          <form method="get" action={`/campaigns/${id}#segments`} class="inline">
            {q.period && <input type="hidden" name="period" value={q.period} />}
            {q.from && <input type="hidden" name="from" value={q.from} />}
            {q.to && <input type="hidden" name="to" value={q.to} />}
            <label for="segment">Context feature</label>{" "}
            {features.length > 0 ? (
              <select id="segment" name="segment">
                {features.map((f) => (
                  <option value={f.name} selected={segment === f.name}>
                    {f.name} ({f.type})
                  </option>
                ))}
              </select>
            ) : (
              <input id="segment" name="segment" value={segment} placeholder="a key of the decision context" />
            )}{" "}
            <button type="submit">Break down</button>
          </form>
          {seg && seg.status !== 200 && (
            <p class="error" role="alert">
              {seg.body?.error?.message}
            </p>
          )}
          {seg && seg.status === 200 && <SegmentView seg={seg.body.segments} objective={camp.objective} />}
        </section>

        <section aria-labelledby="ope-h" id="evaluate">
          <h2 id="ope-h">Off-policy evaluation</h2>
          <p>What another policy would have earned on this campaign's own logged decisions (IPS, SNIPS, DR …).</p>
          <form method="post" action={`/campaigns/${id}/evaluate#evaluate`} class="inline card" hidden={!s.admin}>
            <Csrf token={s.csrf} />
            <Field name="policy" label="Policy" error={ev && ev.status !== 200 ? fieldErrors(ev).message : undefined}>
              {[
                ["uniform", "even split"],
                ...arms.map((a) => [`arm:${a.key}`, `always ${a.key}`]),
                ...STRATEGY_TYPES.filter((t) => !STRATEGIES[t].contextual).map((t) => [
                  `strategy:${t}`,
                  `strategy ${t}`,
                ]),
              ].map(([v, l]) => (
                <option value={v} selected={extra.policy === v}>
                  {l}
                </option>
              ))}
            </Field>
            <button type="submit">Evaluate</button>
          </form>
          {ev && ev.status === 200 && (
            <div class="scroll">
              <table data-evaluation>
                <caption>
                  Policy {ev.body.policy} on {num(ev.body.rows, 0)} logged decisions; the logged policy earned{" "}
                  {interval(ci(ev.body.logged))} per decision
                </caption>
                <Head cols={["Estimator", "#Value per decision [95 %]", "#Lift over the logged policy"]} />
                <tbody>
                  {(ev.body.estimates as Row[]).map((e) => (
                    <tr>
                      <th scope="row">{e.estimator}</th>
                      <td class="n">{interval(ci(e))}</td>
                      <td class="n">{interval(ci(e.lift))}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
        <p>
          <a href={`/campaigns/${id}/report.csv?${range}`} download>
            Report as CSV
          </a>{" "}
          {seg && seg.status === 200 && (
            <>
              ·{" "}
              <a href={`/campaigns/${id}/report.csv?${range}&segment=${enc(segment)}`} download>
                Segments as CSV
              </a>{" "}
            </>
          )}
          · <a href={`/anomalies?campaignId=${id}`}>Anomalies of this campaign</a>
        </p>
      </Layout>,
      extra.arm ? 400 : 200,
    );
  };
  app.get(
    "/campaigns/:id",
    page((c, s) => campaignPage(c, s, c.req.param("id")!)),
  );
  app.get(
    "/campaigns/:id/report.csv",
    page(async (c, s) => {
      const qs = new URLSearchParams();
      for (const k of ["from", "to", "segment", "granularity"]) {
        const v = c.req.query(k);
        if (v) qs.set(k, v);
      }
      qs.set("format", "csv");
      const r = await s.api.get(`/v1/campaigns/${enc(c.req.param("id")!)}/report?${qs}`);
      if (r.status !== 200) return errorPage(c, s, r);
      c.header("content-type", "text/csv; charset=utf-8");
      c.header("content-disposition", `attachment; filename="report-${c.req.param("id")}.csv"`);
      return c.body(r.text, 200);
    }),
  );
  app.post(
    "/campaigns/:id/evaluate",
    action(async (c, s, f) => {
      const id = c.req.param("id")!;
      const choice = str(f, "policy");
      const policy = choice.startsWith("strategy:") ? { type: choice.slice("strategy:".length) } : choice;
      const r = await s.api.post("/v1/evaluations", { campaignId: id, policy, bootstrap: 100 });
      return campaignPage(c, s, id, { evaluation: r, policy: choice });
    }),
  );

  // ---- anomalies ----------------------------------------------------------------------------------------
  app.get(
    "/anomalies",
    page(async (c, s) => {
      const status = c.req.query("status") ?? "";
      const campaignId = c.req.query("campaignId") ?? "";
      const qs = new URLSearchParams();
      if (status) qs.set("status", status);
      if (campaignId) qs.set("campaignId", campaignId);
      const [r, bl] = await Promise.all([s.api.get(`/v1/anomalies?${qs}`), s.api.get("/v1/blocklist")]);
      if (r.status !== 200) return errorPage(c, s, r);
      const blocked = new Set(((bl.body?.entries ?? []) as Row[]).map((b) => `${b.entityType}:${b.entity}`));
      const list = r.body.anomalies as Row[];
      return c.html(
        <Layout title="Anomalies" signedIn csrf={s.csrf} flash={c.req.query("done")}>
          <h1>Anomalies</h1>
          <form method="get" action="/anomalies" class="inline">
            {campaignId && <input type="hidden" name="campaignId" value={campaignId} />}
            <label for="status">Show</label>{" "}
            <select id="status" name="status">
              {[
                ["", "all"],
                ["open", "open"],
                ["confirmed", "confirmed"],
                ["dismissed", "dismissed"],
              ].map(([v, l]) => (
                <option value={v} selected={status === v}>
                  {l}
                </option>
              ))}
            </select>{" "}
            <button type="submit">Filter</button>
          </form>
          {list.length === 0 && <p>No findings.</p>}
          {list.map((a) => (
            <article class="card anomaly" data-anomaly={a.id} aria-labelledby={`an-${a.id}`}>
              <h2 id={`an-${a.id}`}>
                {a.detector} · {a.entityType} <code>{a.entity}</code>{" "}
                <span class={`badge ${a.status}`}>{a.status}</span>
              </h2>
              <p>
                {a.category} · statistic {num(a.statistic, 3)} against threshold {num(a.threshold, 3)} ·{" "}
                {a.invalidatedEvents} events set aside · {new Date(a.windowStart).toUTCString()} –{" "}
                {new Date(a.windowEnd).toUTCString()}
              </p>
              {a.reviewNote && <p class="note">Note: {a.reviewNote}</p>}
              <form method="post" action={`/anomalies/${a.id}`} class="inline-form" hidden={!s.admin}>
                <Csrf token={s.csrf} />
                <div class="field">
                  <label for={`note-${a.id}`}>Note</label>
                  <input id={`note-${a.id}`} name="note" value={a.reviewNote ?? ""} />
                </div>
                <button type="submit" name="status" value="confirmed">
                  Confirm
                </button>
                <button type="submit" name="status" value="dismissed">
                  Dismiss
                </button>
              </form>
              {!s.admin || !(BLOCKABLE as readonly string[]).includes(a.entityType) ? null : blocked.has(
                  `${a.entityType}:${a.entity}`,
                ) ? (
                <p>
                  <span class="badge archived">blocked</span>
                </p>
              ) : (
                <ActionButton
                  action="/blocklist"
                  csrf={s.csrf}
                  label={`Block ${a.entityType} ${a.entity}`}
                  fields={{ entityType: a.entityType, entity: a.entity, reason: `${a.detector} finding ${a.id}` }}
                  danger
                />
              )}
            </article>
          ))}
        </Layout>,
      );
    }),
  );
  app.post(
    "/anomalies/:id",
    action(async (c, s, f) => {
      const note = str(f, "note");
      const r = await s.api.patch(`/v1/anomalies/${enc(c.req.param("id")!)}`, {
        status: str(f, "status"),
        ...(note && { note }),
      });
      if (r.status !== 200) return errorPage(c, s, r);
      return c.redirect(`/anomalies?done=${enc(`Finding ${r.body.status}.`)}`, 303);
    }),
  );
  app.post(
    "/blocklist",
    action(async (c, s, f) => {
      const r = await s.api.post("/v1/blocklist", {
        entityType: str(f, "entityType"),
        entity: str(f, "entity"),
        reason: str(f, "reason") || undefined,
      });
      if (r.status !== 201) return errorPage(c, s, r);
      return c.redirect(`/anomalies?done=${enc(`Blocked ${r.body.entityType} ${r.body.entity}.`)}`, 303);
    }),
  );

  // ---- simulations --------------------------------------------------------------------------------------
  const simulationsPage = async (c: Context, s: Session, error?: string) => {
    const r = await s.api.get("/v1/simulations");
    if (r.status !== 200) return errorPage(c, s, r);
    const runs = r.body.simulations as Row[];
    return c.html(
      <Layout title="Simulations" signedIn csrf={s.csrf}>
        <h1>Simulations</h1>
        <p>
          Run a scenario through the strategies offline and compare regret, conversions, revenue and traffic share. A
          workspace runs at most two at once.
        </p>
        {!s.admin && <ReadOnly role={s.role} />}
        <form method="post" action="/simulations" enctype="multipart/form-data" class="card" hidden={!s.admin}>
          <Csrf token={s.csrf} />
          {error && (
            <p class="error" role="alert" id="sim-error">
              {error}
            </p>
          )}
          <div class="grid">
            <Field name="shipped" label="Shipped scenario">
              <option value="">— none: use the uploaded file —</option>
              {shippedScenarios().map((f) => (
                <option value={f}>{f}</option>
              ))}
            </Field>
            <div class="field">
              <label for="f-file">Or upload a scenario (JSON or YAML)</label>
              <input id="f-file" name="file" type="file" accept=".json,.yaml,.yml,application/json" />
            </div>
            <Field
              name="repetitions"
              label="Repetitions (optional)"
              hint="Fewer repetitions finish sooner; empty keeps the scenario's"
            />
          </div>
          <button type="submit">Run simulation</button>
        </form>
        <h2>Runs</h2>
        {runs.length === 0 && <p>No runs yet.</p>}
        {runs.length > 0 && (
          <div class="scroll">
            <table>
              <Head cols={["Scenario", "Started", "Status", "Progress", "Actions"]} />
              <tbody>
                {runs.map((run) => (
                  <tr data-simulation={run.id} data-status={run.status}>
                    <th scope="row">{run.scenario}</th>
                    <td>{new Date(run.createdAt).toUTCString()}</td>
                    <td data-col="status">
                      <span class={`badge ${run.status}`}>{run.status}</span>
                      {run.error && run.status !== "cancelled" ? ` ${run.error}` : ""}
                    </td>
                    <td>
                      <progress
                        max={run.progress.repetitions}
                        value={run.progress.repetitionsDone}
                        aria-label={`Progress of ${run.scenario}`}
                      >
                        {pct(run.progress.fraction, 0)}
                      </progress>{" "}
                      <span data-col="progress">
                        {run.progress.repetitionsDone}/{run.progress.repetitions}
                      </span>
                    </td>
                    <td>
                      <a
                        href={`/simulations/${run.id}/report`}
                        data-col="report"
                        hidden={run.status !== "done"}
                        target="_blank"
                        rel="noopener"
                      >
                        Open report
                      </a>{" "}
                      {s.admin && run.status === "running" && (
                        <ActionButton action={`/simulations/${run.id}/cancel`} csrf={s.csrf} label="Cancel" />
                      )}{" "}
                      {s.admin && (
                        <ActionButton action={`/simulations/${run.id}/delete`} csrf={s.csrf} label="Delete" danger />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Layout>,
      error ? 400 : 200,
    );
  };
  app.get(
    "/simulations",
    page((c, s) => simulationsPage(c, s)),
  );
  app.post(
    "/simulations",
    action(async (c, s, f) => {
      let text = "";
      let fileName = "scenario.json";
      const shipped = str(f, "shipped");
      const file = f.file;
      if (file && typeof file !== "string" && file.size > 0) {
        if (file.size > 1_000_000) return simulationsPage(c, s, "The scenario file is larger than 1 MB.");
        text = await file.text();
        fileName = file.name || fileName;
      } else if (shipped) {
        if (!shippedScenarios().includes(shipped)) return simulationsPage(c, s, `Unknown scenario ${shipped}.`);
        const { readFileSync } = await import("node:fs");
        text = readFileSync(join(SCENARIO_DIR, shipped), "utf8");
        fileName = shipped;
      } else return simulationsPage(c, s, "Choose a shipped scenario or upload a file.");
      let scenario: Record<string, unknown>;
      try {
        // Parsed here only to read JSON or YAML; the API validates it again and names the field.
        scenario = parseScenarioText(text, fileName) as unknown as Record<string, unknown>;
      } catch (e) {
        return simulationsPage(c, s, (e as Error).message);
      }
      const reps = str(f, "repetitions");
      if (reps) scenario.repetitions = Number.isFinite(Number(reps)) ? Number(reps) : reps;
      const r = await s.api.post("/v1/simulations", scenario);
      if (r.status !== 202) return simulationsPage(c, s, r.body?.error?.message ?? `the API answered ${r.status}`);
      return c.redirect("/simulations", 303);
    }),
  );
  app.post(
    "/simulations/:id/cancel",
    action(async (c, s) => {
      const r = await s.api.post(`/v1/simulations/${enc(c.req.param("id")!)}/cancel`);
      if (r.status !== 200) return errorPage(c, s, r);
      return c.redirect("/simulations", 303);
    }),
  );
  app.post(
    "/simulations/:id/delete",
    action(async (c, s) => {
      const r = await s.api.call("DELETE", `/v1/simulations/${enc(c.req.param("id")!)}`);
      if (r.status !== 204) return errorPage(c, s, r);
      return c.redirect("/simulations", 303);
    }),
  );
  app.get(
    "/simulations/:id/report",
    page(async (c, s) => {
      const r = await s.api.get(`/v1/simulations/${enc(c.req.param("id")!)}/report`);
      if (r.status !== 200) return errorPage(c, s, r);
      return c.html(r.text, 200);
    }),
  );
}

function CreateHeading() {
  return <h2 id="create">Create a campaign</h2>;
}

/** Shown to keys that may only read: the pages stay, the forms that change things do not. */
function ReadOnly(p: { role: string }) {
  return (
    <p class="note" data-readonly>
      Signed in with a {p.role} key: read-only here (changes need an admin key).
    </p>
  );
}

/** An evaluation's {value, ciLow, ciHigh} as an interval. */
const ci = (e: { value: number | null; ciLow: number | null; ciHigh: number | null } | undefined) =>
  e ? { estimate: e.value, lower: e.ciLow, upper: e.ciHigh } : null;

function SegmentView(p: { seg: Row; objective: string }) {
  const seg = p.seg;
  const armKeys: string[] = seg.segments[0]?.arms.map((a: Row) => a.armKey) ?? [];
  const spec = {
    type: "bar",
    labels: seg.segments.map((x: Row) => x.segment),
    series: armKeys.map((k) => ({
      label: k,
      data: seg.segments.map(
        (x: Row) => x.arms.find((a: Row) => a.armKey === k)?.conversionsPerDecision?.estimate ?? 0,
      ),
    })),
    yLabel: "conversions per decision",
    percent: true,
  };
  return (
    <div data-segments={seg.feature}>
      <div class="scroll">
        <table>
          <caption>
            By {seg.feature} ({seg.type === "numeric" ? "quantile buckets" : "levels"}); best arm under the objective (
            {p.objective})
          </caption>
          <Head
            cols={[
              "Segment",
              "#Share of traffic",
              "Arm",
              "#Decisions",
              "#Conversions",
              "#Conv. / decision [95 %]",
              "#Revenue",
              "#Profit",
              "#P(best)",
            ]}
          />
          <tbody>
            {seg.segments.flatMap((x: Row) =>
              x.arms.map((a: Row, i: number) => (
                <tr data-segment={x.segment} class={i === 0 ? "group" : ""}>
                  {i === 0 ? (
                    <th scope="rowgroup" rowspan={x.arms.length}>
                      {x.segment}
                      <br />
                      <small>
                        best: {x.bestArm ?? "–"} ({pct(x.probabilityBest, 0)})
                      </small>
                    </th>
                  ) : null}
                  {i === 0 ? (
                    <td class="n" rowspan={x.arms.length}>
                      {pct(x.share)}
                    </td>
                  ) : null}
                  <td>{a.armKey}</td>
                  <td class="n">{num(a.decisions, 0)}</td>
                  <td class="n">{num(a.conversions, 0)}</td>
                  <td class="n">{interval(a.conversionsPerDecision, "pct")}</td>
                  <td class="n">{money(a.revenue)}</td>
                  <td class="n">{money(a.profit)}</td>
                  <td class="n">{pct(a.probabilityBest)}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
      <Chart id="segment-chart" label={`Conversions per decision by ${seg.feature} and arm`} spec={spec} />
    </div>
  );
}
