/**
 * GET /docs: Swagger UI on the service's own OpenAPI document, with every asset served by this process
 * (src/web/assets.ts), so the page works with no network.
 */
import type { Env, Hono } from "hono";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>adbandit API reference</title>
<link rel="stylesheet" href="/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/assets/swagger-ui-bundle.js"></script>
<script src="/assets/docs.js"></script>
</body>
</html>`;

export function registerDocs<E extends Env>(app: Hono<E>): void {
  app.get("/docs", (c) => c.html(PAGE));
}
