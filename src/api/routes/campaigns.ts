/** Campaigns: create, list, read, patch (name, status, strategy params, floor, window). */
import { createRoute, z } from "@hono/zod-openapi";

import type { App, AppDeps } from "../env.ts";
import { publicCampaign } from "../views.ts";
import { body, CampaignIn, CampaignOut, CampaignPatchIn, errors, IdParam, json } from "../schemas.ts";

export function register(app: App, deps: AppDeps): void {
  const security = [{ bearer: [] }];
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/campaigns",
      tags: ["campaigns"],
      summary: "Create a campaign",
      security,
      request: body(CampaignIn),
      responses: {
        201: json(CampaignOut, "Created"),
        400: errors[400],
        401: errors[401],
        413: errors[413],
        503: errors[503],
      },
    }),
    async (c) =>
      c.json(publicCampaign(await deps.engine.createCampaign(c.get("workspaceId"), c.req.valid("json"))), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/campaigns",
      tags: ["campaigns"],
      summary: "List the workspace's campaigns",
      security,
      responses: {
        200: json(z.object({ campaigns: z.array(CampaignOut) }), "Campaigns"),
        401: errors[401],
        503: errors[503],
      },
    }),
    async (c) =>
      c.json({ campaigns: (await deps.engine.listCampaigns(c.get("workspaceId"))).map(publicCampaign) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/campaigns/{id}",
      tags: ["campaigns"],
      summary: "Read a campaign",
      security,
      request: { params: IdParam },
      responses: { 200: json(CampaignOut, "Campaign"), 401: errors[401], 404: errors[404], 503: errors[503] },
    }),
    async (c) => c.json(publicCampaign(await deps.engine.campaign(c.get("workspaceId"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/campaigns/{id}",
      tags: ["campaigns"],
      summary: "Change name, status, strategy params, exploration floor or attribution window",
      security,
      request: { params: IdParam, ...body(CampaignPatchIn) },
      responses: {
        200: json(CampaignOut, "Campaign"),
        400: errors[400],
        401: errors[401],
        404: errors[404],
        409: errors[409],
        503: errors[503],
      },
    }),
    async (c) =>
      c.json(
        publicCampaign(
          await deps.engine.patchCampaign(c.get("workspaceId"), c.req.valid("param").id, c.req.valid("json")),
        ),
        200,
      ),
  );
}
