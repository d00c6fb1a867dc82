// Benchmark anchor backend: a bare @grpc/grpc-js server (no nice-grpc, no middleware, no storage)
// answering user.GetUser and relation.GetRelationStats with the same protobuf messages as dzug, from
// memory. The data is what dzug answered for the benchmarked request (BENCH_USERS: UserProfile JSON
// list; BENCH_STATS: RelationStats JSON list, for BENCH_VIEWER). The floor for "one RPC served".
//
//   BENCH_PORT=… BENCH_USERS='[…]' BENCH_STATS='[…]' BENCH_VIEWER=1 node bench/lib/bare-grpc-server.ts
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { RelationServiceDefinition, RelationStats } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { UserProfile, UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { rawMethod } from "./raw-grpc.ts";

const env = process.env;
const users = new Map<number, UserProfile>(
  (JSON.parse(env.BENCH_USERS ?? "[]") as unknown[]).map((j) => {
    const u = UserProfile.fromJSON(j);
    return [u.id, u];
  }),
);
const viewer = Number(env.BENCH_VIEWER ?? 0);
const stats = new Map<number, RelationStats>(
  (JSON.parse(env.BENCH_STATS ?? "[]") as unknown[]).map((j) => {
    const s = RelationStats.fromJSON(j);
    return [s.userId, s];
  }),
);
const noStats = (userId: number): RelationStats => ({ userId, followCount: 0, followerCount: 0, isFollow: false });

const server = new Server();
server.addService(
  { getUser: rawMethod(UserServiceDefinition, "getUser") },
  {
    getUser(call: any, callback: any) {
      const user = users.get(call.request.id);
      if (!user) callback({ code: status.NOT_FOUND, details: "user not found" });
      else callback(null, { user });
    },
  },
);
server.addService(
  { getRelationStats: rawMethod(RelationServiceDefinition, "getRelationStats") },
  {
    getRelationStats(call: any, callback: any) {
      const { viewerId, userIds } = call.request as { viewerId: number; userIds: number[] };
      // The stored answer is the benchmark viewer's; another viewer sees the same counts, not is_follow.
      callback(null, {
        stats: userIds.map((id) => {
          const s = stats.get(id) ?? noStats(id);
          return viewerId === viewer ? s : { ...s, isFollow: false };
        }),
      });
    },
  },
);
server.bindAsync(`127.0.0.1:${env.BENCH_PORT ?? 0}`, ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`listening ${port}\n`);
});
process.on("SIGTERM", () => {
  server.forceShutdown();
  process.exit(0);
});
