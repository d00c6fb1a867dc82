// Benchmark anchor gateway: the benchmarked request's mapping done the minimal way, with raw
// @grpc/grpc-js on one long-lived channel per backend (no discovery, balancing, retries, metrics,
// request ids, logs or security headers). `GET /douyin/user/?user_id&token`: the token's HS256 check
// (jose, remembered per token until its exp, as the gateway's cache does), user.GetUser ∥
// relation.GetRelationStats with a 3 s deadline (BENCH_DEADLINE_MS), the same JSON answer. BENCH_HTTP picks the HTTP layer:
// `express` (Express 5, a route and res.json) or `node` (node:http, URL parsing by hand).
//
//   BENCH_HTTP=express|node BENCH_PORT=… BENCH_USER_ADDR=host:port BENCH_RELATION_ADDR=host:port \
//     DZUG_AUTH_JWT_SECRET=… node bench/lib/minimal-gateway.ts
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Client, credentials, type MethodDefinition } from "@grpc/grpc-js";
import express from "express";
import { jwtVerify } from "jose";
import { type GetRelationStatsResponse, RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { type GetUserResponse, UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { rawMethod } from "./raw-grpc.ts";

const env = process.env;
const key = new TextEncoder().encode(env.DZUG_AUTH_JWT_SECRET ?? "");
/** Per-RPC deadline (bench/instructions.ts raises it: under valgrind everything is slower). */
const DEADLINE_MS = Number(env.BENCH_DEADLINE_MS ?? 3_000);
const verified = new Map<string, { userId: number; exp: number }>();

async function viewerOf(token: string): Promise<number> {
  const hit = verified.get(token);
  if (hit && Date.now() / 1000 < hit.exp) return hit.userId;
  const { payload } = await jwtVerify(token, key, { issuer: "dzug", algorithms: ["HS256"] });
  const userId = Number(payload.sub);
  if (verified.size >= 10_000) verified.clear();
  verified.set(token, { userId, exp: payload.exp ?? 0 });
  return userId;
}

const userClient = new Client(env.BENCH_USER_ADDR ?? "", credentials.createInsecure());
const relationClient = new Client(env.BENCH_RELATION_ADDR ?? "", credentials.createInsecure());
const getUser = rawMethod(UserServiceDefinition, "getUser");
const getStats = rawMethod(RelationServiceDefinition, "getRelationStats");

function unary<Res>(client: Client, m: MethodDefinition<any, any>, request: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      request,
      { deadline: Date.now() + DEADLINE_MS },
      (err, res) => (err ? reject(err) : resolve(res as Res)),
    );
  });
}

/** The douyin answer for GET /douyin/user/, or undefined for a bad request. */
async function userAnswer(userIdParam: unknown, token: unknown): Promise<object | undefined> {
  if (typeof token !== "string" || token === "") return undefined;
  const viewer = await viewerOf(token);
  const target = userIdParam === undefined ? viewer : Number(userIdParam);
  if (!Number.isSafeInteger(target) || target <= 0) return undefined;
  const [p, s] = await Promise.all([
    unary<GetUserResponse>(userClient, getUser, { id: target }),
    unary<GetRelationStatsResponse>(relationClient, getStats, { viewerId: viewer, userIds: [target] }),
  ]);
  const u = p.user;
  if (!u) throw new Error("no user");
  const st = s.stats.find((x) => x.userId === target);
  return {
    status_code: 0,
    status_msg: "success",
    user: {
      id: u.id,
      name: u.name,
      follow_count: st?.followCount ?? 0,
      follower_count: st?.followerCount ?? 0,
      is_follow: st?.isFollow ?? false,
      avatar: u.avatar,
      background_image: u.backgroundImage,
      signature: u.signature,
      total_favorited: u.totalFavorited,
      work_count: u.workCount,
      favorite_count: u.favoriteCount,
    },
  };
}

const BAD = { status_code: 10001, status_msg: "bad request" };
const FAILED = { status_code: 10500, status_msg: "internal error" };

function expressApp() {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.get("/douyin/user/", async (req, res) => {
    try {
      const answer = await userAnswer(req.query.user_id, req.query.token);
      res.status(answer ? 200 : 400).json(answer ?? BAD);
    } catch {
      res.status(500).json(FAILED);
    }
  });
  return app;
}

function nodeHandler(req: IncomingMessage, res: ServerResponse): void {
  const send = (code: number, body: object) => {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  };
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method !== "GET" || url.pathname !== "/douyin/user/") {
    send(404, BAD);
    return;
  }
  const q = url.searchParams;
  userAnswer(q.get("user_id") ?? undefined, q.get("token") ?? undefined).then(
    (answer) => send(answer ? 200 : 400, answer ?? BAD),
    () => send(500, FAILED),
  );
}

const server = createServer({ keepAliveTimeout: 65_000 }, env.BENCH_HTTP === "node" ? nodeHandler : expressApp());
server.listen(Number(env.BENCH_PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  userClient.close();
  relationClient.close();
  process.exit(0);
});
