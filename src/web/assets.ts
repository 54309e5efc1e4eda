/**
 * Static files the web pages need, served from node_modules (no CDN, no build step): Swagger UI for
 * /docs, Chart.js for the dashboard, and the dashboard's own script and style sheet from src/web/static.
 * Only the files named here are served; each is read once and kept in memory.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Env, Hono } from "hono";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const swaggerDir = () => dirname(require.resolve("swagger-ui-dist/package.json"));
const chartDir = () => dirname(require.resolve("chart.js"));

const FILES: Record<string, { path: () => string; type: string }> = {
  "swagger-ui.css": { path: () => join(swaggerDir(), "swagger-ui.css"), type: "text/css; charset=utf-8" },
  "swagger-ui-bundle.js": {
    path: () => join(swaggerDir(), "swagger-ui-bundle.js"),
    type: "text/javascript; charset=utf-8",
  },
  "chart.umd.min.js": { path: () => join(chartDir(), "chart.umd.min.js"), type: "text/javascript; charset=utf-8" },
  "docs.js": { path: () => join(here, "static", "docs.js"), type: "text/javascript; charset=utf-8" },
  "app.js": { path: () => join(here, "static", "app.js"), type: "text/javascript; charset=utf-8" },
  "app.css": { path: () => join(here, "static", "app.css"), type: "text/css; charset=utf-8" },
};

const cache = new Map<string, Buffer>();

function load(name: string): Buffer | null {
  const f = FILES[name];
  if (!f) return null;
  let body = cache.get(name);
  if (!body) {
    body = readFileSync(f.path());
    cache.set(name, body);
  }
  return body;
}

/** `/assets/<name>` for the files above; anything else under /assets answers 404. */
export function registerAssets<E extends Env>(app: Hono<E>): void {
  app.get("/assets/:name", (c) => {
    const name = c.req.param("name");
    const body = load(name);
    if (!body) return c.notFound();
    return c.body(new Uint8Array(body), 200, {
      "content-type": FILES[name].type,
      "cache-control": "public, max-age=3600",
      "x-content-type-options": "nosniff",
    });
  });
}
