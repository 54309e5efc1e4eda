/**
 * The web side of the service: the dashboard at / (dashboard.tsx), /docs (Swagger UI) and the static assets,
 * all served by this process.
 */
import type { Env, Hono } from "hono";
import type { AppDeps } from "../api/env.ts";
import { registerAssets } from "./assets.ts";
import { registerDashboard } from "./dashboard.tsx";
import { registerDocs } from "./docs.ts";

export function registerWeb<E extends Env>(app: Hono<E>, deps: AppDeps): void {
  registerAssets(app);
  registerDocs(app);
  registerDashboard(app, deps);
}
