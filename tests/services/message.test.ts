// The message service as real processes (2 instances, with user and relation, real etcd, SQLite),
// called by name through etcd discovery as the gateway and the relation service call it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Client, Status } from "nice-grpc";
import { errorReason } from "../../platform/errors.ts";
import { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import { MessageDirection, RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { type DiscoveryCaller, discoveryCaller } from "../harness/discovery.ts";
import { DzugSystem } from "../harness/system.ts";

let sys: DzugSystem;
let caller: DiscoveryCaller;
let messages: Client<typeof MessageServiceDefinition>;
let relations: Client<typeof RelationServiceDefinition>;
let users: Client<typeof UserServiceDefinition>;

before(async () => {
  sys = await DzugSystem.start({ replicas: { user: 1, relation: 1, message: 2 }, gateway: false });
  caller = discoveryCaller(sys.etcd.endpoint);
  messages = caller.discovery.client("message", MessageServiceDefinition);
  relations = caller.discovery.client("relation", RelationServiceDefinition);
  users = caller.discovery.client("user", UserServiceDefinition);
  // Every service the tests call, not only message: a call made before its service's first list waits
  // for that list, but both message instances must be listed for the calls to spread over them.
  await caller.listed({ user: 1, relation: 1, message: 2 });
});

after(async () => {
  await caller?.close();
  await sys?.destroy();
});

async function failure(p: Promise<unknown>): Promise<{ code: Status; reason: string | undefined }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code: Status }).code, reason: errorReason(err) };
  }
  throw new Error("the call succeeded");
}

test("friends chat through discovery; the friend list carries the newest message; strangers are refused", async () => {
  const register = async (username: string) => (await users.register({ username, password: "secret-123" })).userId;
  const [a, b, c] = [await register("svc-a"), await register("svc-b"), await register("svc-c")];
  await relations.follow({ followerId: a, followeeId: b });
  assert.deepEqual(await failure(messages.sendMessage({ fromUserId: a, toUserId: b, content: "hi" })), {
    code: Status.FAILED_PRECONDITION,
    reason: "NOT_FRIENDS",
  });
  await relations.follow({ followerId: b, followeeId: a });
  const first = (await messages.sendMessage({ fromUserId: a, toUserId: b, content: "hi b" })).message!;
  const second = (await messages.sendMessage({ fromUserId: b, toUserId: a, content: "hi a\nhow are you?" })).message!;
  assert.ok(second.createTime > first.createTime);
  for (let i = 0; i < 4; i++) {
    assert.deepEqual((await messages.listMessages({ userId: b, peerId: a, afterTime: 0 })).messages, [first, second]);
    assert.deepEqual((await messages.listMessages({ userId: a, peerId: b, afterTime: first.createTime })).messages, [
      second,
    ]);
  }
  assert.deepEqual((await messages.getLatestMessages({ userId: a, peerIds: [b, c] })).messages, [second]);
  const { friends } = await relations.listFriends({ userId: a, viewerId: a });
  assert.deepEqual(
    friends.map((f) => [f.user?.profile?.id, f.message, f.direction]),
    [[b, "hi a\nhow are you?", MessageDirection.MESSAGE_DIRECTION_RECEIVED]],
  );
  assert.deepEqual(await failure(messages.sendMessage({ fromUserId: a, toUserId: c, content: "hi" })), {
    code: Status.FAILED_PRECONDITION,
    reason: "NOT_FRIENDS",
  });
  assert.deepEqual(await failure(messages.sendMessage({ fromUserId: a, toUserId: 999_999, content: "hi" })), {
    code: Status.NOT_FOUND,
    reason: "USER_NOT_FOUND",
  });
  assert.deepEqual(await failure(messages.sendMessage({ fromUserId: a, toUserId: a, content: "hi" })), {
    code: Status.INVALID_ARGUMENT,
    reason: "MESSAGE_SELF",
  });
  assert.equal(
    (await failure(messages.sendMessage({ fromUserId: a, toUserId: b, content: "a\u0007" }))).code,
    Status.INVALID_ARGUMENT,
  );
});
