// The benchmarked request and its data, shared by the benchmark scripts: alice follows bob, and the
// request is alice reading bob (`GET /douyin/user/?user_id&token`: user.GetUser ∥
// relation.GetRelationStats). Also the environment of the bare grpc-js servers answering from memory
// what dzug answered (bench/lib/bare-grpc-server.ts).
import { createChannel, createClient } from "nice-grpc";
import { RelationServiceDefinition, RelationStats } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { UserProfile, UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";

export interface BenchRequest {
  /** Path and query of the benchmarked request. */
  path: string;
  /** dzug's answer to it (every design must answer the same bytes). */
  body: string;
  aliceId: number;
  bobId: number;
}

async function post(base: string, path: string, params: Record<string, string | number>) {
  const body = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  return (await (await fetch(`${base}${path}`, { method: "POST", body })).json()) as Record<string, unknown>;
}

/** Registers alice and bob through the gateway at `gw`, alice follows bob; checks the request answers. */
export async function prepareBenchRequest(gw: string): Promise<BenchRequest> {
  const alice = await post(gw, "/douyin/user/register/", { username: "bench_alice", password: "secret123" });
  const bob = await post(gw, "/douyin/user/register/", { username: "bench_bob", password: "secret123" });
  const token = String(alice.token);
  const aliceId = Number(alice.user_id);
  const bobId = Number(bob.user_id);
  const followed = await post(gw, "/douyin/relation/action/", { token, to_user_id: bobId, action_type: 1 });
  if (followed.status_code !== 0) throw new Error(`setup follow failed: ${JSON.stringify(followed)}`);
  const path = `/douyin/user/?user_id=${bobId}&token=${encodeURIComponent(token)}`;
  const body = await (await fetch(`${gw}${path}`)).text();
  if (JSON.parse(body).status_code !== 0) throw new Error(`benchmarked request fails: ${body}`);
  return { path, body, aliceId, bobId };
}

/** BENCH_* environment of a bare grpc-js server: what dzug's user and relation instances answer. */
export async function bareServerEnv(
  userAddress: string,
  relationAddress: string,
  r: BenchRequest,
): Promise<Record<string, string>> {
  const userChannel = createChannel(userAddress);
  const relChannel = createChannel(relationAddress);
  try {
    const profile = (await createClient(UserServiceDefinition, userChannel).getUser({ id: r.bobId })).user;
    const stats = (
      await createClient(RelationServiceDefinition, relChannel).getRelationStats({
        viewerId: r.aliceId,
        userIds: [r.bobId],
      })
    ).stats;
    return {
      BENCH_USERS: JSON.stringify(profile ? [UserProfile.toJSON(profile)] : []),
      BENCH_STATS: JSON.stringify(stats.map((s) => RelationStats.toJSON(s))),
      BENCH_VIEWER: String(r.aliceId),
    };
  } finally {
    userChannel.close();
    relChannel.close();
  }
}
