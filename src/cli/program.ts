/**
 * The operator CLI's commands (commander). `run(argv, io)` parses, runs one command and answers its exit
 * code (see EXIT in output.ts), so tests drive it in-process; src/cli/main.ts is the entry `adbandit`.
 */
import { spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { parse as parseYaml } from "yaml";
import { AdbanditClient, type CampaignInput, type KeyRole } from "../client/index.ts";
import type { TransportOptions } from "../client/transport.ts";
import { DECISIONS, EVENTS, type ImportKind, type ImportSummary, importRows } from "./import.ts";
import { EXIT, exitCodeOf, fields, type Io, printError, table, UsageError } from "./output.ts";
import { campaignView, reportTables } from "./views.ts";

export interface CliIo extends Io {
  env: Record<string, string | undefined>;
  /** Where `export` writes without -o (default: process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** Transport overrides for tests (fetch, sleep). */
  transport?: TransportOptions;
  /** How simulate / evaluate get their output: inherited (a terminal) or piped into out/err. */
  childStdio?: "inherit" | "pipe";
  /** Stops an import (as SIGINT does). */
  signal?: AbortSignal;
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface Common {
  url?: string;
  apiKey?: string;
  json?: boolean;
  timeout?: number;
  retries?: number;
}

const int =
  (name: string, min = 0) =>
  (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return n;
  };
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};
const jsonArg = (name: string) => (v: string) => {
  try {
    return JSON.parse(v) as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError(`${name} must be JSON`);
  }
};

/** Reads a JSON or YAML file (by extension; YAML is a superset of JSON, so anything else is read as YAML). */
export function readDocument(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
  try {
    return /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  let json = false;

  const common = (cmd: Command) =>
    cmd
      .option("--url <url>", "service URL (env ADBANDIT_URL, default http://localhost:3000)")
      .option("--api-key <key>", "API key (env ADBANDIT_API_KEY)")
      .option("--json", "print JSON instead of a table")
      .option("--timeout <ms>", "per-request timeout", int("--timeout", 1))
      .option("--retries <n>", "retries on 429/503 and lost connections", int("--retries"));

  const client = (o: Common, apiKey?: string) => {
    const key = apiKey ?? o.apiKey ?? io.env.ADBANDIT_API_KEY;
    if (!key) throw new UsageError("no API key: set ADBANDIT_API_KEY or pass --api-key");
    return new AdbanditClient({
      baseUrl: o.url ?? io.env.ADBANDIT_URL ?? "http://localhost:3000",
      apiKey: key,
      ...(o.timeout !== undefined ? { timeoutMs: o.timeout } : {}),
      ...(o.retries !== undefined ? { retries: o.retries } : {}),
      ...io.transport,
    });
  };
  const emit = (o: Common, data: unknown, human: () => string) =>
    io.out(o.json ? `${JSON.stringify(data, null, 2)}\n` : human());
  /** Wraps an action: options with --json noted, errors turned into exit codes. */
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number | undefined> | Promise<void>) =>
    async (...args: A) => {
      const cmd = args[args.length - 1] as Command;
      json = Boolean((cmd.opts() as Common).json);
      const r = await fn(...args);
      if (typeof r === "number") code = r;
    };

  const program = new Command()
    .name("adbandit")
    .description(
      "Operate an adbandit service: workspaces, keys, campaigns, arms, reports, fraud review, import, export.",
    )
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .addHelpText(
      "after",
      `
Configuration: ADBANDIT_URL (default http://localhost:3000), ADBANDIT_API_KEY, ADBANDIT_ADMIN_KEY
(for workspaces create), or --url / --api-key on any command.
Exit codes: 0 ok · 1 unexpected failure · 2 usage (flags, input file, configuration) · 3 refused by the
server (400/404/409/413) · 4 authentication or permission (401/403) · 5 unavailable or unreachable
(503, 429 after retries, network, timeout) · 6 import done with rejected rows · 130 interrupted.`,
    );

  // ---- workspaces
  const workspaces = program.command("workspaces").description("workspaces (admin key)");
  common(workspaces.command("create <name>").description("create a workspace; prints its admin API key once")).action(
    action(async (name: string, o: Common) => {
      const ws = await client(o, o.apiKey ?? io.env.ADBANDIT_ADMIN_KEY).workspaces.create(name);
      emit(o, ws, () => fields({ id: ws.id, name: ws.name, apiKey: ws.apiKey }));
    }),
  );

  // ---- keys
  const keys = program.command("keys").description("the workspace's API keys (admin role)");
  common(
    keys
      .command("create")
      .description("create a key; prints it once")
      .addOption(
        new Option("--role <role>", "what the key may do").choices(["reader", "writer", "admin"]).makeOptionMandatory(),
      )
      .option("--name <name>", "a label"),
  ).action(
    action(async (o: Common & { role: KeyRole; name?: string }) => {
      const k = await client(o).keys.create(o.role, o.name);
      emit(o, k, () =>
        fields({ id: k.id, key: k.key, prefix: k.prefix, name: k.name, role: k.role, createdAt: k.createdAt }),
      );
    }),
  );
  common(keys.command("list").description("list keys (never the secrets)")).action(
    action(async (o: Common) => {
      const list = await client(o).keys.list();
      emit(o, { keys: list }, () =>
        table(
          ["id", "prefix", "name", "role", "created", "revoked"],
          list.map((k) => [k.id, k.prefix, k.name, k.role, k.createdAt, k.revokedAt]),
        ),
      );
    }),
  );
  common(keys.command("revoke <id>").description("revoke a key")).action(
    action(async (id: string, o: Common) => {
      const r = await client(o).keys.revoke(id);
      emit(o, r, () => `revoked ${r.id} at ${r.revokedAt}\n`);
    }),
  );

  // ---- campaigns
  const campaigns = program.command("campaigns").description("campaigns");
  common(campaigns.command("create <file>").description("create a campaign from a JSON or YAML file")).action(
    action(async (file: string, o: Common) => {
      const c = await client(o).campaigns.create(readDocument(file) as CampaignInput);
      emit(o, c, () => campaignView(c));
    }),
  );
  common(campaigns.command("list").description("list the workspace's campaigns")).action(
    action(async (o: Common) => {
      const list = await client(o).campaigns.list();
      emit(o, { campaigns: list }, () =>
        table(
          ["id", "name", "kind", "objective", "strategy", "status", "arms", "created"],
          list.map((c) => [
            c.id,
            c.name,
            c.kind,
            c.objective,
            String(c.strategy.type),
            c.status,
            c.arms.length,
            c.createdAt,
          ]),
        ),
      );
    }),
  );
  common(campaigns.command("show <id>").description("a campaign and its arms")).action(
    action(async (id: string, o: Common) => {
      const c = await client(o).campaigns.get(id);
      emit(o, c, () => campaignView(c));
    }),
  );
  for (const [verb, what] of [
    ["pause", "stop serving (decisions answer 409)"],
    ["resume", "serve again"],
    ["archive", "archive (final)"],
  ] as const) {
    common(campaigns.command(`${verb} <id>`).description(what)).action(
      action(async (id: string, o: Common) => {
        const c = await client(o).campaigns[verb](id);
        emit(o, c, () => `${c.id} ${c.status}\n`);
      }),
    );
  }

  // ---- arms
  const arms = program.command("arms").description("a campaign's arms");
  common(
    arms
      .command("add <campaign> <key>")
      .description("add an arm mid-flight")
      .option("--name <name>", "display name")
      .option("--cost <n>", "cost of one decision served with it", num("--cost"))
      .option("--metadata <json>", 'metadata object, e.g. \'{"url":"https://…"}\'', jsonArg("--metadata")),
  ).action(
    action(
      async (
        campaign: string,
        key: string,
        o: Common & { name?: string; cost?: number; metadata?: Record<string, unknown> },
      ) => {
        const a = await client(o).arms.add(campaign, {
          key,
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.cost !== undefined ? { cost: o.cost } : {}),
          ...(o.metadata !== undefined ? { metadata: o.metadata } : {}),
        });
        emit(o, a, () => fields({ key: a.key, name: a.name, cost: a.cost, status: a.status }));
      },
    ),
  );
  for (const verb of ["pause", "resume", "archive"] as const) {
    common(arms.command(`${verb} <campaign> <key>`).description(`${verb} an arm`)).action(
      action(async (campaign: string, key: string, o: Common) => {
        const a = await client(o).arms[verb](campaign, key);
        emit(o, a, () => `${campaign} ${a.key} ${a.status}\n`);
      }),
    );
  }
  common(arms.command("list <campaign>").description("per arm: counts, posterior, P(best), traffic share")).action(
    action(async (campaign: string, o: Common) => {
      const list = await client(o).arms.list(campaign);
      emit(o, { arms: list }, () =>
        table(
          [
            "arm",
            "status",
            "decisions",
            "conversions",
            "revenue",
            "cost",
            "mean",
            "95% low",
            "95% high",
            "P(best)",
            "share",
          ],
          list.map((a) => [
            a.key,
            a.status,
            a.decisions,
            a.conversions,
            a.revenue,
            a.cost,
            a.posteriorMean,
            a.interval95[0],
            a.interval95[1],
            a.probabilityBest,
            a.trafficShare,
          ]),
        ),
      );
    }),
  );

  // ---- report
  common(
    program
      .command("report <campaign>")
      .description("ROI report per arm (a table; --csv for the server's CSV, --json for everything)")
      .option("--from <time>", "ISO time (default 7 days before --to)")
      .option("--to <time>", "ISO time (default now)")
      .addOption(new Option("--granularity <g>", "periods in --csv/--json").choices(["hour", "day"]))
      .addOption(
        new Option("--source <s>", "direct: from the events, not the hourly rollups (default auto)").choices([
          "auto",
          "direct",
          "rollup",
        ]),
      )
      .option("--csv", "print the report as CSV"),
  ).action(
    action(
      async (
        campaign: string,
        o: Common & {
          from?: string;
          to?: string;
          granularity?: "hour" | "day";
          source?: "auto" | "direct" | "rollup";
          csv?: boolean;
        },
      ) => {
        const q = {
          ...(o.from ? { from: o.from } : {}),
          ...(o.to ? { to: o.to } : {}),
          ...(o.granularity ? { granularity: o.granularity } : {}),
          ...(o.source ? { source: o.source } : {}),
        };
        if (o.csv) {
          io.out(await client(o).reports.csv(campaign, q));
          return;
        }
        const r = await client(o).reports.campaign(campaign, q);
        emit(o, r, () => reportTables(r));
      },
    ),
  );

  // ---- anomalies
  const anomalies = program.command("anomalies").description("fraud findings: list, confirm, dismiss, block");
  common(
    anomalies
      .command("list")
      .description("findings, newest first")
      .option("--campaign <id>", "one campaign")
      .addOption(new Option("--status <s>").choices(["open", "confirmed", "dismissed"]))
      .option("--from <time>", "findings whose window ends after this time")
      .option("--to <time>", "findings whose window starts before this time")
      .option("--limit <n>", "at most this many (default 100)", int("--limit", 1)),
  ).action(
    action(
      async (
        o: Common & {
          campaign?: string;
          status?: "open" | "confirmed" | "dismissed";
          from?: string;
          to?: string;
          limit?: number;
        },
      ) => {
        const list = await client(o).anomalies.list({
          ...(o.campaign ? { campaignId: o.campaign } : {}),
          ...(o.status ? { status: o.status } : {}),
          ...(o.from ? { from: o.from } : {}),
          ...(o.to ? { to: o.to } : {}),
          ...(o.limit ? { limit: o.limit } : {}),
        });
        emit(o, { anomalies: list }, () =>
          table(
            [
              "id",
              "campaign",
              "detector",
              "entity",
              "category",
              "statistic",
              "threshold",
              "window end",
              "status",
              "invalidated",
            ],
            list.map((a) => [
              a.id,
              a.campaignId,
              a.detector,
              // A pseudonymised source (src/privacy) carries its own kind ("ip:…", "ua:…", "bot:…").
              /^(ip|ua|bot):/.test(a.entity) ? a.entity : `${a.entityType}:${a.entity}`,
              a.category,
              a.statistic,
              a.threshold,
              a.windowEnd,
              a.status,
              a.invalidatedEvents,
            ]),
          ),
        );
      },
    ),
  );
  for (const verb of ["confirm", "dismiss"] as const) {
    common(
      anomalies
        .command(`${verb} <id>`)
        .description(
          verb === "confirm" ? "confirm a finding" : "dismiss a finding (restores the events it invalidated)",
        )
        .option("--note <text>", "why"),
    ).action(
      action(async (id: string, o: Common & { note?: string }) => {
        const a = await client(o).anomalies[verb](id, o.note);
        emit(o, a, () => `${a.id} ${a.status} (${a.invalidatedEvents} events invalidated)\n`);
      }),
    );
  }
  common(
    anomalies
      .command("block <id>")
      .description("confirm a finding and blocklist its source (future events from it are invalid)")
      .option("--note <text>", "why (also the blocklist reason)")
      .option("--expires <time>", "ISO time the block ends"),
  ).action(
    action(async (id: string, o: Common & { note?: string; expires?: string }) => {
      const r = await client(o).anomalies.block(id, { note: o.note, expiresAt: o.expires });
      emit(o, r, () => `${r.anomaly.id} confirmed; blocked ${r.entry.entityType} ${r.entry.entity} (${r.entry.id})\n`);
    }),
  );

  // ---- export
  common(
    program
      .command("export <campaign>")
      .description("the decision log with propensities and rewards (JSONL or CSV), streamed")
      .option("--from <time>", "ISO time")
      .option("--to <time>", "ISO time")
      .addOption(new Option("--format <f>").choices(["jsonl", "csv"]).default("jsonl"))
      .addOption(
        new Option(
          "--served <which>",
          "all: also the decisions not served (paced, budget_exhausted), with served and reason",
        )
          .choices(["true", "all"])
          .default("true"),
      )
      .option("-o, --out <file>", "write to a file instead of stdout"),
  ).action(
    action(
      async (
        campaign: string,
        o: Common & { from?: string; to?: string; format: "jsonl" | "csv"; served: "true" | "all"; out?: string },
      ) => {
        const body = await client(o).exportDecisions(campaign, {
          format: o.format,
          served: o.served,
          ...(o.from ? { from: o.from } : {}),
          ...(o.to ? { to: o.to } : {}),
        });
        const sink = o.out ? createWriteStream(o.out) : (io.stdout ?? process.stdout);
        await body.pipeTo(Writable.toWeb(sink as Writable), { preventClose: !o.out });
      },
    ),
  );

  // ---- import
  const imports = program.command("import").description("bulk import of historical data");
  for (const kind of [EVENTS, DECISIONS] as ImportKind<unknown>[]) {
    const decisions = kind === (DECISIONS as ImportKind<unknown>);
    let cmd = imports
      .command(`${kind.name} <file>`)
      .description(
        decisions
          ? "historical decisions (id, arm, propensity, time; or `export` lines) from CSV or JSONL into a campaign's log, in batches, resumable (admin key)"
          : "events from CSV or JSONL, in batches, resumable: run the same command again after an interruption",
      );
    if (decisions)
      cmd = cmd.option("--campaign <id>", "the campaign every row goes to (default: each row's campaignId)");
    common(
      cmd
        .addOption(new Option("--format <f>", "default: from the file name").choices(["csv", "jsonl"]))
        .option("--batch <n>", `${kind.name} per request (≤ 1000)`, int("--batch", 1), 1000)
        .option("--concurrency <n>", "requests in flight", int("--concurrency", 1), 2)
        .option("--checkpoint <file>", "progress file (default <file>.import.json)")
        .option("--summary <file>", "summary written at the end (default <file>.summary.json)")
        .option("--rejects <file>", "rejected rows with reasons, JSONL (default <file>.rejected.jsonl)")
        .option("--restart", "ignore the checkpoint and start from the first row")
        .option("--no-progress", "no progress bar"),
    ).action(
      action(
        async (
          file: string,
          o: Common & {
            campaign?: string;
            format?: "csv" | "jsonl";
            batch: number;
            concurrency: number;
            checkpoint?: string;
            summary?: string;
            rejects?: string;
            restart?: boolean;
            progress: boolean;
          },
        ) => {
          const c = client(o);
          const stop = new AbortController();
          const onSigint = () => stop.abort();
          process.once("SIGINT", onSigint);
          io.signal?.addEventListener("abort", onSigint);
          let s: ImportSummary;
          try {
            s = await importRows(kind, c, {
              file,
              campaign: o.campaign,
              format: o.format,
              batchSize: o.batch,
              concurrency: o.concurrency,
              checkpoint: o.checkpoint,
              summary: o.summary,
              rejects: o.rejects,
              restart: o.restart,
              progress: o.progress,
              signal: stop.signal,
            });
          } catch (err) {
            if (!(err instanceof UsageError))
              io.err(
                `import stopped; run the same command again to resume (checkpoint ${o.checkpoint ?? `${file}.import.json`})\n`,
              );
            throw err;
          } finally {
            process.off("SIGINT", onSigint);
          }
          emit(o, s, () => {
            const reasons = Object.entries(s.reasons).map(([r, n]) => `  ${r}: ${n}\n`);
            const columns = decisions
              ? ["accepted", "recovered", "duplicates", "rejected"]
              : ["accepted", "recovered", "duplicates", "rejected", "conflicts", "invalid"];
            return (
              `${s.complete ? "imported" : "interrupted"} ${s.file}: ${s.rows.toLocaleString("en-US")} rows\n` +
              table(columns, [columns.map((k) => s[k as keyof ImportSummary] as number)]) +
              (reasons.length ? `reasons:\n${reasons.join("")}` : "") +
              `summary: ${s.summary}\nrejected rows: ${s.rejects}\n` +
              (s.complete ? "" : `resume: run the same command again (checkpoint ${s.checkpoint})\n`)
            );
          });
          if (!s.complete) return EXIT.interrupted;
          return s.rejected + s.conflicts > 0 ? EXIT.partial : EXIT.ok;
        },
      ),
    );
  }

  // ---- simulate / evaluate: the existing command lines, run as they are
  for (const [name, script, what] of [
    ["simulate", "simulations/cli/simulate.ts", "compare strategies on a synthetic market (adbandit simulate --help)"],
    [
      "evaluate",
      "simulations/cli/evaluate.ts",
      "off-policy evaluation of a policy on logged decisions (adbandit evaluate --help)",
    ],
  ] as const) {
    program
      .command(name)
      .description(what)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument("[args...]")
      .action(async (args: string[]) => {
        code = await runScript(script, args, io);
      });
  }

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    printError(io, err, json);
    return exitCodeOf(err);
  }
  return code;
}

/** Runs one of the simulations/cli scripts in a child Node with tsx, answering its exit code. */
function runScript(script: string, args: string[], io: CliIo): Promise<number> {
  const stdio = io.childStdio ?? "inherit";
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), `${ROOT}${script}`, ...args], {
    stdio: stdio === "inherit" ? "inherit" : ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...io.env } as NodeJS.ProcessEnv,
  });
  child.stdout?.on("data", (b: Buffer) => io.out(b.toString()));
  child.stderr?.on("data", (b: Buffer) => io.err(b.toString()));
  return new Promise((resolve) => child.once("close", (c) => resolve(c ?? EXIT.failure)));
}
