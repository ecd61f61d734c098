/**
 * The Prometheus exposition: the `/metrics` answer of the API, and the app of
 * the separate `metrics.listen` address, which serves only `/metrics`,
 * without authentication, for a scraper on the pod network.
 *
 * @module
 */
import { Hono } from "hono";
import type { Metrics } from "../telemetry/metrics.ts";
import { problem, problemResponse } from "./problem.ts";

/** The current metrics in the Prometheus text format. */
export async function metricsResponse(metrics: Metrics): Promise<Response> {
  const { contentType, body } = await metrics.render();
  return new Response(body, { status: 200, headers: { "content-type": contentType } });
}

/** An app that serves `GET /metrics` and nothing else. */
export function metricsApp(metrics: Metrics): Hono {
  const app = new Hono();
  app.get("/metrics", () => metricsResponse(metrics));
  app.notFound((c) =>
    problemResponse(problem("not-found", `No route for ${c.req.method} ${c.req.path}`))
  );
  return app;
}
