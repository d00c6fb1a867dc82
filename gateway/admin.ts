// The gateway's admin app: the operations endpoints (ops.ts) on their own listener (config admin.port,
// as the services' admin server), so the API port, the one an ingress exposes, serves the API only.
// Its requests are not API traffic: they do not enter the HTTP RED metrics, limits or shedding.
import express, { type Express, type RequestHandler } from "express";
import type { Logger } from "pino";
import { errorHandler, notFound } from "./error-handler.ts";
import { securityHeaders } from "./middleware.ts";
import { type OpsDeps, opsRouter } from "./ops.ts";

const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader("cache-control", "no-store");
  next();
};

export function createAdminApp(deps: OpsDeps & { logger: Logger }): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", "simple");
  app.set("case sensitive routing", true);
  // The status page is HTML: the same headers (CSP without scripts) as every gateway answer.
  app.use(noStore, securityHeaders());
  app.use(opsRouter(deps));
  app.use(notFound);
  // No route reads a body; the limit only words a message that cannot occur.
  app.use(errorHandler(deps.logger, 0));
  return app;
}
