// The message service as real processes (2 instances, real etcd, SQLite), called by name through etcd
// discovery as the gateway calls it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Client, ClientError, Status } from "nice-grpc";
import { pino } from "pino";
import { openDatabase } from "../../platform/storage/index.ts";
import { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import { MESSAGE_MIGRATION_TABLE, messageMigrations } from "../../services/message/migrations.ts";
import { MessageStore, type MessageTables } from "../../services/message/store.ts";
import { type DiscoveryCaller, discoveryCaller } from "../harness/discovery.ts";
import { DzugSystem } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

let sys: DzugSystem;
let caller: DiscoveryCaller;
let client: Client<typeof MessageServiceDefinition>;

before(async () => {
  sys = await DzugSystem.start({ users: 0, relations: 0, replicas: { message: 2 }, gateway: false });
  caller = discoveryCaller(sys.etcd.endpoint);
  client = caller.discovery.client("message", MessageServiceDefinition);
  const registered = () => caller.discovery.watch("message").instances().length;
  await waitFor(() => registered() === 2, { message: "2 message instances in etcd" });
});

after(async () => {
  await caller?.close();
  await sys?.destroy();
});

test("GetItem answers a stored item through discovery (both instances), and no item for an unknown id", async () => {
  const database = await openDatabase<MessageTables>({
    url: sys.databaseUrl,
    logger: pino({ level: "warn" }),
    migrations: messageMigrations,
    migrationTable: MESSAGE_MIGRATION_TABLE,
  });
  try {
    const stored = await new MessageStore(database.db).add("hello");
    for (let i = 0; i < 4; i++) {
      const { item } = await client.getItem({ id: stored.id });
      assert.deepEqual(item, { id: stored.id, content: "hello", createdAt: stored.createdAt });
    }
    assert.equal((await client.getItem({ id: stored.id + 1000 })).item, undefined);
  } finally {
    await database.close();
  }
});

test("GetItem refuses an invalid id with INVALID_ARGUMENT", async () => {
  await assert.rejects(client.getItem({ id: 0 }), (err: unknown) => {
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, Status.INVALID_ARGUMENT);
    return true;
  });
});
