// In-process test doubles of OUR user and relation services (the nice-grpc Client interface), and an
// app harness: createApp with them and createAdminApp, each listening on a free loopback port. Not of etcd: discovery is a
// fake snapshot source here; tests/gateway/server.test.ts runs the real thing against a real etcd.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { trace } from "@opentelemetry/api";
import type { Express } from "express";
import { Status } from "nice-grpc";
import { ErrorInfo, RichClientError } from "nice-grpc-error-details";
import { Registry } from "prom-client";
import { createAdminApp } from "../../gateway/admin.ts";
import { createApp, type DiscoveryView, type GatewayDeps, type PoolSnapshot } from "../../gateway/app.ts";
import { DeviceTokens } from "../../gateway/device.ts";
import { RateLimits, rateLimitSection } from "../../gateway/rate-limit.ts";
import { UPSTREAM_NAMES } from "../../gateway/upstreams.ts";
import { TokenService } from "../../platform/auth.ts";
import { trustProxySetting } from "../../platform/config-schema.ts";
import { discoveryMetrics } from "../../platform/discovery/metrics.ts";
import { ERROR_DOMAIN, type Reason } from "../../platform/errors.ts";
import { createLogger } from "../../platform/logger.ts";
import { LoadShedder, type OverloadOptions } from "../../platform/overload.ts";
import {
  type Friend,
  MessageDirection,
  type RelatedUser,
  type RelationStats,
} from "../../proto/gen/dzug/relation/v1/relation.ts";
import type { UserProfile } from "../../proto/gen/dzug/user/v1/user.ts";
import { assertDocumentedAnswer } from "../harness/openapi.ts";

export const SECRET = "test-secret-test-secret-test-secret-0123";
export const tokens = new TokenService(SECRET, 3600);

export function rpcError(
  method: string,
  code: Status,
  reason: string | undefined,
  details = "failed",
): RichClientError {
  const extra = reason ? [ErrorInfo.fromPartial({ reason, domain: ERROR_DOMAIN })] : [];
  return new RichClientError(method, code, details, extra);
}

const fail = (method: string, code: Status, reason: Reason, details: string) =>
  rpcError(`/dzug.${method}`, code, reason, details);

type ListReq = { userId: number; viewerId: number };

/** A tiny in-memory world behaving like the services' contracts. */
export class FakeWorld {
  users = new Map<number, UserProfile & { password: string }>();
  follows: Array<{ follower: number; followee: number }> = []; // newest last
  messages = new Map<string, { text: string; from: number }>();
  /** Chat messages sent through messageClient(), oldest first. */
  chats: Array<{ id: number; fromUserId: number; toUserId: number; content: string; createTime: number }> = [];
  nextId = 1;
  calls: Array<{ method: string; request: unknown; metadata?: unknown; spanId?: string; traceId?: string }> = [];
  /** When set, login waits for it (given the call's signal) before answering. */
  beforeLogin?: (signal: AbortSignal | undefined) => Promise<void>;
  /** When set, every call of that method throws it. */
  failNext = new Map<string, Error>();

  private record(method: string, request: unknown, options?: { metadata?: { get(k: string): unknown } }) {
    const span = trace.getActiveSpan()?.spanContext();
    this.calls.push({
      method,
      request,
      metadata: options?.metadata?.get("x-request-id"),
      spanId: span?.spanId,
      traceId: span?.traceId,
    });
    const e = this.failNext.get(method);
    if (e) throw e;
  }

  addUser(name: string, password = "secret123", extra: Partial<UserProfile> = {}): number {
    const id = this.nextId++;
    this.users.set(id, {
      id,
      name,
      password,
      avatar: `https://img.example/${id}.png`,
      backgroundImage: `https://img.example/${id}-bg.png`,
      signature: `hi, I am ${name}`,
      totalFavorited: 7 * id,
      workCount: 3,
      favoriteCount: 5,
      ...extra,
    });
    return id;
  }

  profile(id: number): UserProfile {
    const u = this.users.get(id);
    if (!u) throw fail("user.v1.UserService/GetUser", Status.NOT_FOUND, "USER_NOT_FOUND", "user not found");
    const { password: _password, ...p } = u;
    return p;
  }

  stats(viewer: number, id: number): RelationStats {
    return {
      userId: id,
      followCount: this.follows.filter((f) => f.follower === id).length,
      followerCount: this.follows.filter((f) => f.followee === id).length,
      isFollow: this.follows.some((f) => f.follower === viewer && f.followee === id),
    };
  }

  related(viewer: number, id: number): RelatedUser {
    return { profile: this.profile(id), stats: this.stats(viewer, id) };
  }

  userClient(): any {
    return {
      register: async (req: { username?: string; password?: string }, o?: never) => {
        this.record("register", req, o);
        if ([...this.users.values()].some((u) => u.name === req.username)) {
          throw fail("user.v1.UserService/Register", Status.ALREADY_EXISTS, "USERNAME_TAKEN", "username taken");
        }
        const id = this.addUser(req.username ?? "", req.password ?? "");
        return { userId: id, token: await tokens.issue(id) };
      },
      login: async (req: { username?: string; password?: string }, o?: never) => {
        this.record("login", req, o);
        await this.beforeLogin?.((o as { signal?: AbortSignal } | undefined)?.signal);
        const u = [...this.users.values()].find((x) => x.name === req.username);
        if (!u) throw fail("user.v1.UserService/Login", Status.UNAUTHENTICATED, "INVALID_CREDENTIALS", "no such user");
        if (u.password !== req.password)
          throw fail("user.v1.UserService/Login", Status.UNAUTHENTICATED, "INVALID_CREDENTIALS", "wrong password");
        return { userId: u.id, token: await tokens.issue(u.id) };
      },
      getUser: async (req: { id?: number }, o?: never) => {
        this.record("getUser", req, o);
        return { user: this.profile(req.id ?? 0) };
      },
      getUsers: async (req: { ids?: number[] }, o?: never) => {
        this.record("getUsers", req, o);
        return { users: (req.ids ?? []).filter((i) => this.users.has(i)).map((i) => this.profile(i)) };
      },
      verifyToken: async (req: { token?: string }, o?: never) => {
        this.record("verifyToken", req, o);
        return { userId: await tokens.verify(req.token ?? "") };
      },
    };
  }

  messageClient(): any {
    const P = "message.v1.MessageService";
    const key = (a: number, b: number) => `${Math.min(a, b)}-${Math.max(a, b)}`;
    const follows = (a: number, b: number) => this.follows.some((f) => f.follower === a && f.followee === b);
    return {
      sendMessage: async (req: { fromUserId: number; toUserId: number; content: string }, o?: never) => {
        this.record("sendMessage", req, o);
        const { fromUserId: from, toUserId: to } = req;
        if (from === to) throw fail(`${P}/SendMessage`, Status.INVALID_ARGUMENT, "MESSAGE_SELF", "to yourself");
        if (!this.users.has(to)) throw fail(`${P}/SendMessage`, Status.NOT_FOUND, "USER_NOT_FOUND", "no such user");
        if (!follows(from, to) || !follows(to, from))
          throw fail(`${P}/SendMessage`, Status.FAILED_PRECONDITION, "NOT_FRIENDS", "not friends");
        const last = this.chats.findLast((m) => key(m.fromUserId, m.toUserId) === key(from, to));
        const message = {
          id: this.chats.length + 1,
          fromUserId: from,
          toUserId: to,
          content: req.content,
          createTime: Math.max(Date.now(), (last?.createTime ?? 0) + 1),
        };
        this.chats.push(message);
        this.messages.set(key(from, to), { text: req.content, from });
        return { message };
      },
      listMessages: async (req: { userId: number; peerId: number; afterTime: number }, o?: never) => {
        this.record("listMessages", req, o);
        const conversation = this.chats.filter((m) => key(m.fromUserId, m.toUserId) === key(req.userId, req.peerId));
        const messages = req.afterTime > 0 ? conversation.filter((m) => m.createTime > req.afterTime) : conversation;
        return { messages: messages.slice(req.afterTime > 0 ? 0 : -200).slice(0, 200) };
      },
    };
  }

  relationClient(): any {
    const P = "relation.v1.RelationService";
    const c = this.unaryRelationClient(P);
    /** The streamed lists: the unpaged answer in pages of two entries, recorded under their own name. */
    const paged =
      <K extends string>(name: string, list: (req: ListReq) => Record<K, unknown[]>, field: K) =>
      (req: ListReq, o?: never) => {
        this.record(name, req, o);
        return (async function* () {
          const all = list(req)[field];
          for (let i = 0; i < all.length; i += 2) yield { [field]: all.slice(i, i + 2) };
        })();
      };
    return {
      ...c,
      streamFollowing: paged("streamFollowing", (r) => this.following(r), "users"),
      streamFollowers: paged("streamFollowers", (r) => this.followers(r), "users"),
      streamFriends: paged("streamFriends", (r) => this.friends(r), "friends"),
    };
  }

  private following(req: ListReq) {
    const ids = this.follows
      .filter((f) => f.follower === req.userId)
      .map((f) => f.followee)
      .reverse();
    return { users: ids.map((id) => this.related(req.viewerId, id)) };
  }

  private followers(req: ListReq) {
    const ids = this.follows
      .filter((f) => f.followee === req.userId)
      .map((f) => f.follower)
      .reverse();
    return { users: ids.map((id) => this.related(req.viewerId, id)) };
  }

  private friends(req: ListReq) {
    const ids = this.follows
      .filter(
        (f) =>
          f.follower === req.userId && this.follows.some((g) => g.follower === f.followee && g.followee === req.userId),
      )
      .map((f) => f.followee)
      .reverse();
    const friends: Friend[] = ids.map((id) => {
      const m = this.messages.get(`${Math.min(id, req.userId)}-${Math.max(id, req.userId)}`);
      return {
        user: this.related(req.viewerId, id),
        message: m?.text ?? "",
        direction: !m
          ? MessageDirection.MESSAGE_DIRECTION_UNSPECIFIED
          : m.from === req.viewerId
            ? MessageDirection.MESSAGE_DIRECTION_SENT
            : MessageDirection.MESSAGE_DIRECTION_RECEIVED,
      };
    });
    return { friends };
  }

  private unaryRelationClient(P: string) {
    return {
      follow: async (req: { followerId: number; followeeId: number }, o?: never) => {
        this.record("follow", req, o);
        if (req.followerId === req.followeeId)
          throw fail(`${P}/Follow`, Status.INVALID_ARGUMENT, "FOLLOW_SELF", "cannot follow yourself");
        if (!this.users.has(req.followeeId))
          throw fail(`${P}/Follow`, Status.NOT_FOUND, "USER_NOT_FOUND", "no such user");
        if (this.follows.some((f) => f.follower === req.followerId && f.followee === req.followeeId)) {
          throw fail(`${P}/Follow`, Status.ALREADY_EXISTS, "ALREADY_FOLLOWING", "already following");
        }
        this.follows.push({ follower: req.followerId, followee: req.followeeId });
        return {};
      },
      unfollow: async (req: { followerId: number; followeeId: number }, o?: never) => {
        this.record("unfollow", req, o);
        const i = this.follows.findIndex((f) => f.follower === req.followerId && f.followee === req.followeeId);
        if (i < 0) throw fail(`${P}/Unfollow`, Status.FAILED_PRECONDITION, "NOT_FOLLOWING", "not following");
        this.follows.splice(i, 1);
        return {};
      },
      listFollowing: async (req: ListReq, o?: never) => {
        this.record("listFollowing", req, o);
        return this.following(req);
      },
      listFollowers: async (req: ListReq, o?: never) => {
        this.record("listFollowers", req, o);
        return this.followers(req);
      },
      listFriends: async (req: ListReq, o?: never) => {
        this.record("listFriends", req, o);
        return this.friends(req);
      },
      getRelationStats: async (req: { viewerId: number; userIds: number[] }, o?: never) => {
        this.record("getRelationStats", req, o);
        return { stats: req.userIds.map((id) => this.stats(req.viewerId, id)) };
      },
    };
  }
}

export function instance(
  service: string,
  id: string,
  over: Partial<PoolSnapshot["instances"][number]["record"]> = {},
  picks = 0,
  state = "READY",
  load: { inflight?: number; latencyMs?: number; score?: number } = {},
): PoolSnapshot["instances"][number] {
  return {
    record: {
      id,
      service,
      address: "127.0.0.1:50051",
      version: "0.1.0",
      weight: 100,
      zone: "",
      startedAt: "2026-01-01T00:00:00.000Z",
      ...over,
    },
    picks,
    state,
    inflight: load.inflight ?? 0,
    latencyMs: load.latencyMs ?? 0,
    score: load.score,
  };
}

/** Discovery as the gateway sees it, settable by the test. */
export class FakeDiscovery implements DiscoveryView {
  /** One ready pool with one instance per service the gateway calls (gateway/upstreams.ts), in its order. */
  pools: PoolSnapshot[] = UPSTREAM_NAMES.map((service) => ({
    service,
    stale: false,
    ready: true,
    strategy: "random",
    instances: [instance(service, `${service}-a`)],
  }));
  snapshot(): PoolSnapshot[] {
    return this.pools;
  }
}

export interface TestApp {
  /** The API. */
  url: string;
  /** The admin listener (operations endpoints). */
  adminUrl: string;
  world: FakeWorld;
  discovery: FakeDiscovery;
  metrics: Registry;
  logs: string[];
  shutdown: { value: boolean };
  close(): Promise<void>;
}

export async function startTestApp(
  opts: Partial<Pick<GatewayDeps, "bodyLimitBytes" | "tracing" | "trustProxy" | "credentialsInFlight">> & {
    /** Rate limits (gateway/rate-limit.ts' config, defaults filled in); none when absent. */
    rateLimit?: Record<string, unknown>;
    /** Load shedding (platform/overload.ts' config); none when absent. */
    overload?: OverloadOptions;
    now?: () => number;
  } = {},
): Promise<TestApp> {
  const world = new FakeWorld();
  const discovery = new FakeDiscovery();
  const metrics = new Registry();
  discoveryMetrics(metrics).picks.inc({ service: "user", upstream: "user-a", strategy: "random" });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: "debug", service: "gateway", instance: "test", destination: sink });
  const shutdown = { value: false };
  const shedder = opts.overload ? new LoadShedder(opts.overload, metrics) : undefined;
  const app = createApp({
    user: world.userClient(),
    relation: world.relationClient(),
    message: world.messageClient(),
    tokens,
    logger,
    metrics,
    bodyLimitBytes: opts.bodyLimitBytes ?? 4096,
    shuttingDown: () => shutdown.value,
    tracing: opts.tracing ?? false,
    ...(opts.rateLimit
      ? { rateLimits: new RateLimits(rateLimitSection.parse(opts.rateLimit), metrics, opts.now) }
      : {}),
    // A list as the gateway reads http.trustProxy (platform/client-address.ts, one hop).
    ...(opts.trustProxy !== undefined
      ? { trustProxy: typeof opts.trustProxy === "string" ? trustProxySetting(opts.trustProxy, 1) : opts.trustProxy }
      : {}),
    ...(shedder ? { shedder } : {}),
    ...(opts.credentialsInFlight !== undefined ? { credentialsInFlight: opts.credentialsInFlight } : {}),
    devices: new DeviceTokens(SECRET),
  });
  const admin = createAdminApp({
    discovery,
    metrics,
    logger,
    required: UPSTREAM_NAMES,
    shuttingDown: () => shutdown.value,
  });
  const servers = await Promise.all([listenOnLoopback(app), listenOnLoopback(admin)]);
  const [url, adminUrl] = servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`);
  return {
    url: url!,
    adminUrl: adminUrl!,
    world,
    discovery,
    metrics,
    logs,
    shutdown,
    close: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
}

function listenOnLoopback(app: Express): Promise<Server> {
  return new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (body !== undefined) assertDocumentedAnswer(init.method ?? "GET", url, res.status, body);
  return { status: res.status, headers: res.headers, body, text };
}

export const form = (o: Record<string, string>) => ({
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(o).toString(),
});

export const json = (o: unknown) => ({ headers: { "content-type": "application/json" }, body: JSON.stringify(o) });

export function multipart(o: Record<string, string>): { body: FormData } {
  const fd = new FormData();
  for (const [k, v] of Object.entries(o)) fd.append(k, v);
  return { body: fd };
}

export { FRIEND_USER_FIELDS, USER_FIELDS } from "../harness/douyin.ts";
