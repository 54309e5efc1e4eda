/**
 * The web side of the service: /docs (Swagger UI) and the static assets, all served by this process.
 */
import type { Env, Hono } from "hono";
import type { AppDeps } from "../api/env.ts";
import { registerAssets } from "./assets.ts";
import { registerDocs } from "./docs.ts";

export function registerWeb<E extends Env>(app: Hono<E>, _deps: AppDeps): void {
  registerAssets(app);
  registerDocs(app);
}
