/**
 * Entry point: config from the environment, buildService (migrate, engine, app), the scheduled jobs
 * (fraud scan, rollups, blocklist refresh; one leader per job), HTTP with @hono/node-server. SIGTERM/SIGINT: stop accepting connections, flush pending decisions, close the
 * database, exit 0.
 */
import type { Server as HttpServer } from "node:http";
import { serve } from "@hono/node-server";
import { loadConfig } from "./config.ts";
import { CachedFraudGate } from "./fraud/gate.ts";
import { jobsConfigFromEnv, startServiceJobs } from "./jobs/index.ts";
import { createLogger } from "./logger.ts";
import { buildService } from "./service.ts";

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  let jobsConfig: ReturnType<typeof jobsConfigFromEnv>;
  try {
    config = loadConfig();
    jobsConfig = jobsConfigFromEnv();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  if (config.adminKeyGenerated)
    logger.warn({ adminKey: config.adminKey }, "ADBANDIT_ADMIN_KEY is not set; generated one for this run");
  // Also printed plainly on stderr: one JSON log line among many is easy to miss.
  if (config.adminKeyGenerated) process.stderr.write(`\nAdmin key for this run: ${config.adminKey}\n\n`);

  const gate = new CachedFraudGate();
  const service = await buildService({
    fraudGate: gate,
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    adminKey: config.adminKey,
    refreshIntervalMs: config.refreshIntervalMs,
    maxLiveCampaigns: config.maxLiveCampaigns,
    preloadCampaigns: config.preloadCampaigns,
    campaignIdleMs: config.campaignIdleMs,
    poolSize: config.poolSize,
    processMetrics: true,
    maxInflight: config.maxInflight,
    minParallelBatch: config.minParallelBatch,
    bodyBudgetBytes: config.bodyBudgetBytes,
    rateLimit: config.rateLimit ?? undefined,
    logger,
  });
  const server = serve({ fetch: service.app.fetch, port: config.port, hostname: config.host }, (info) =>
    logger.info(
      { port: info.port, host: config.host, database: config.databaseUrl ? "postgres" : `pglite:${config.dataDir}` },
      "listening",
    ),
  );

  // Explicit limits instead of Node's defaults: a slow client cannot hold a connection for long
  // (headers within headersTimeout, the whole request within requestTimeout), idle keep-alive sockets
  // close after keepAliveTimeout, and connections beyond maxConnections are refused.
  const http = server as unknown as HttpServer;
  http.headersTimeout = config.server.headersTimeoutMs;
  http.requestTimeout = config.server.requestTimeoutMs;
  http.keepAliveTimeout = config.server.keepAliveTimeoutMs;
  http.maxConnections = config.server.maxConnections;

  const jobs = startServiceJobs(service.deps, gate, jobsConfig);

  let stopping = false;
  server.on("request", (_req: unknown, res: { setHeader(k: string, v: string): void; headersSent?: boolean }) => {
    if (stopping && !res.headersSent) res.setHeader("connection", "close");
  });
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const hard = setTimeout(() => {
      logger.error("shutdown took longer than 15 s; exiting");
      process.exit(1);
    }, 15_000);
    hard.unref();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Keep-alive sockets would hold close() open: answers from now on carry `Connection: close`, and
      // sockets that fall idle are closed; requests in flight still finish.
      const closeIdle = () => (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      closeIdle();
      const t = setInterval(closeIdle, 100);
      t.unref();
    });
    await jobs.stop();
    await service.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
