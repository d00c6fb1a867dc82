// The API as one table: each route's method, path, parameters, whether it needs a token, the fields
// of its successful answer, and what it calls. app.ts mounts every entry the same way and openapi.ts
// documents every entry from the same schemas, so a route added here is served and documented.
import type { CallOptions } from "nice-grpc";
import { z } from "zod";
import type { GatewayDeps } from "./deps.ts";
import {
  type DouyinUser,
  friendUserSchema,
  messageSchema,
  toFriends,
  toMessages,
  toUser,
  toUsers,
  userSchema,
} from "./douyin.ts";
import {
  epochMs,
  id,
  loginPassword,
  loginUsername,
  messageContent,
  newPassword,
  newUsername,
  oneOf,
} from "./params.ts";
import type { RouteLimit } from "./rate-limit.ts";
import { mapPages, StreamedList } from "./streamed-list.ts";

export interface RouteContext {
  deps: GatewayDeps;
  /** The token's user (0 on routes without `auth`). */
  viewer: number;
  /** Request id metadata (and, later, the deadline) for every RPC of this request. */
  opts: CallOptions;
}

export interface Route<P extends z.ZodObject = z.ZodObject, R extends z.ZodObject = z.ZodObject> {
  method: "get" | "post";
  /** The contract's path, with its trailing slash (served with and without it). */
  path: string;
  summary: string;
  params: P;
  /** Needs `token` (parameter or Authorization: Bearer); verified before `handle` runs. */
  auth: boolean;
  /** The fields of a successful answer besides status_code and status_msg. */
  result: R;
  /** Fields every answer carries, failures too, with these values. */
  failureExtra?: Readonly<Record<string, unknown>>;
  /** Rate limits of its own (gateway/rate-limit.ts), besides the API-wide one. */
  limit?: RouteLimit;
  /** The answer's fields; lists return a StreamedList, written page by page (streamed-list.ts). */
  handle(params: z.infer<P>, ctx: RouteContext): Promise<z.infer<R> | StreamedList>;
}

/** Keeps each entry's parameter and result types tied to its handler. */
const route = <P extends z.ZodObject, R extends z.ZodObject>(r: Route<P, R>): Route => r as unknown as Route;

const credentials = z.object({ user_id: z.number().int(), token: z.string() });
/** register/login answer these also on failure, so clients can fall back from one to the other. */
const NO_CREDENTIALS = Object.freeze({ user_id: 0, token: "" });

/** A list route: its answer is `user_list`, streamed from the relation service page by page. */
const listRoute = <T>(
  path: string,
  summary: string,
  item: z.ZodType<T>,
  pages: (deps: GatewayDeps, q: { userId: number; viewerId: number }, opts: CallOptions) => AsyncIterable<readonly T[]>,
): Route =>
  route({
    method: "get",
    path,
    summary,
    params: z.object({ user_id: id }),
    auth: true,
    result: z.object({ user_list: z.array(item) }),
    handle: async ({ user_id }, { deps, viewer, opts }) =>
      new StreamedList("user_list", pages(deps, { userId: user_id, viewerId: viewer }, opts)),
  });

/** register and login: username + password in, user_id + token out (also, zeroed, on failure). */
const credentialsRoute = (
  path: string,
  summary: string,
  username: z.ZodType<string>,
  password: z.ZodType<string>,
  rpc: "register" | "login",
): Route =>
  route({
    method: "post",
    path,
    summary,
    params: z.object({ username, password }),
    auth: false,
    result: credentials,
    failureExtra: NO_CREDENTIALS,
    limit: rpc,
    handle: async (params, { deps, opts }) => {
      const r = await deps.user[rpc](params, opts);
      return { user_id: r.userId, token: r.token };
    },
  });

export const ROUTES: readonly Route[] = [
  credentialsRoute("/douyin/user/register/", "Create an account and sign in", newUsername, newPassword, "register"),
  credentialsRoute("/douyin/user/login/", "Sign in", loginUsername, loginPassword, "login"),
  route({
    method: "get",
    path: "/douyin/user/",
    summary: "A user's profile and counts (the token's own user when user_id is absent)",
    params: z.object({ user_id: id.optional() }),
    auth: true,
    result: z.object({ user: userSchema }),
    handle: async ({ user_id }, { deps, viewer, opts }) => {
      const target = user_id ?? viewer;
      const [profile, stats] = await Promise.allSettled([
        deps.user.getUser({ id: target }, opts),
        deps.relation.getRelationStats({ viewerId: viewer, userIds: [target] }, opts),
      ]);
      // The profile's failure (e.g. USER_NOT_FOUND) is the one the client should see.
      if (profile.status === "rejected") throw profile.reason;
      if (stats.status === "rejected") throw stats.reason;
      const u = profile.value.user;
      if (!u) throw new Error("user.GetUser answered without a user");
      const user: DouyinUser = toUser(
        u,
        stats.value.stats.find((x) => x.userId === target),
      );
      return { user };
    },
  }),
  route({
    method: "post",
    path: "/douyin/relation/action/",
    summary: "Follow (action_type 1) or unfollow (2) to_user_id",
    params: z.object({ to_user_id: id, action_type: oneOf([1, 2], "1 (follow) or 2 (unfollow)") }),
    auth: true,
    result: z.object({}),
    handle: async ({ to_user_id, action_type }, { deps, viewer, opts }) => {
      const edge = { followerId: viewer, followeeId: to_user_id };
      if (action_type === 1) await deps.relation.follow(edge, opts);
      else await deps.relation.unfollow(edge, opts);
      return {};
    },
  }),
  listRoute("/douyin/relation/follow/list/", "Whom user_id follows, newest first", userSchema, (d, q, o) =>
    mapPages(d.relation.streamFollowing(q, o), (p) => toUsers(p.users, d.logger)),
  ),
  listRoute("/douyin/relation/follower/list/", "Who follows user_id, newest first", userSchema, (d, q, o) =>
    mapPages(d.relation.streamFollowers(q, o), (p) => toUsers(p.users, d.logger)),
  ),
  listRoute(
    "/douyin/relation/friend/list/",
    "Users that user_id follows and who follow back, with the newest message of each conversation",
    friendUserSchema,
    (d, q, o) => mapPages(d.relation.streamFriends(q, o), (p) => toFriends(p.friends, d.logger)),
  ),
  route({
    method: "post",
    path: "/douyin/message/action/",
    summary: "Send (action_type 1) a chat message to to_user_id, a friend",
    params: z.object({ to_user_id: id, action_type: oneOf([1], "1 (send)"), content: messageContent }),
    auth: true,
    result: z.object({}),
    handle: async ({ to_user_id, content }, { deps, viewer, opts }) => {
      await deps.message.sendMessage({ fromUserId: viewer, toUserId: to_user_id, content }, opts);
      return {};
    },
  }),
  route({
    method: "get",
    path: "/douyin/message/chat/",
    summary: "The conversation with to_user_id, oldest first: messages after pre_msg_time, or the latest 200",
    params: z.object({ to_user_id: id, pre_msg_time: epochMs.optional() }),
    auth: true,
    result: z.object({ message_list: z.array(messageSchema) }),
    handle: async ({ to_user_id, pre_msg_time }, { deps, viewer, opts }) => {
      const r = await deps.message.listMessages(
        { userId: viewer, peerId: to_user_id, afterTime: pre_msg_time ?? 0 },
        opts,
      );
      return { message_list: toMessages(r.messages) };
    },
  }),
];
