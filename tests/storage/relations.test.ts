import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { RELATION_MIGRATION_TABLE, relationMigrations } from "../../services/relation/migrations.ts";
import {
  AlreadyFollowingError,
  NotFollowingError,
  RelationStore,
  type RelationTables,
} from "../../services/relation/store.ts";
import { eachBackend } from "./backends.ts";
import { assertConsistent, mergeNet, type NetByPair, runStorm } from "./storm.ts";

const run = promisify(execFile);
const STORM_WORKER = fileURLToPath(new URL("./fixtures/relation-storm.ts", import.meta.url));

eachBackend((backend) => {
  async function fresh() {
    const h = await backend.open<RelationTables>(
      await backend.freshUrl(),
      relationMigrations,
      RELATION_MIGRATION_TABLE,
    );
    return { h, store: new RelationStore(h.db) };
  }

  async function rowCount(h: { db: import("kysely").Kysely<RelationTables> }, table: "follows" | "follow_counts") {
    const r = await h.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  test("follow creates the relation and bumps both counts; a second follow fails and changes nothing", async () => {
    const { h, store } = await fresh();
    await store.follow(1, 2);
    assert.equal(await store.isFollowing(1, 2), true);
    assert.equal(await store.isFollowing(2, 1), false);
    const expected = [
      { userId: 1, followCount: 1, followerCount: 0, isFollow: false },
      { userId: 2, followCount: 0, followerCount: 1, isFollow: false },
    ];
    assert.deepEqual(await store.stats(3, [1, 2]), expected);
    await assert.rejects(store.follow(1, 2), (err: unknown) => {
      assert.ok(err instanceof AlreadyFollowingError);
      assert.equal(err.followerId, 1);
      assert.equal(err.followeeId, 2);
      return true;
    });
    assert.deepEqual(await store.stats(3, [1, 2]), expected);
    assert.equal(await rowCount(h, "follows"), 1);
  });

  test("unfollow removes the relation and decrements; unfollowing again fails and changes nothing", async () => {
    const { h, store } = await fresh();
    await store.follow(1, 2);
    await store.follow(3, 2);
    await store.unfollow(1, 2);
    assert.equal(await store.isFollowing(1, 2), false);
    const expected = [
      { userId: 1, followCount: 0, followerCount: 0, isFollow: false },
      { userId: 2, followCount: 0, followerCount: 1, isFollow: false },
      { userId: 3, followCount: 1, followerCount: 0, isFollow: false },
    ];
    assert.deepEqual(await store.stats(0, [1, 2, 3]), expected);
    for (const [a, b] of [
      [1, 2],
      [2, 1],
      [5, 6],
    ] as const) {
      await assert.rejects(store.unfollow(a, b), (err: unknown) => err instanceof NotFollowingError);
    }
    assert.deepEqual(await store.stats(0, [1, 2, 3]), expected);
    assert.equal(await rowCount(h, "follows"), 1);
    // Following again after an unfollow works and counts again.
    await store.follow(1, 2);
    assert.equal((await store.stats(0, [2]))[0]?.followerCount, 2);
  });

  test("a self-follow is refused by the CHECK constraint and changes nothing", async () => {
    const { h, store } = await fresh();
    await assert.rejects(store.follow(7, 7));
    assert.equal(await rowCount(h, "follows"), 0);
    assert.equal(await rowCount(h, "follow_counts"), 0);
  });

  test("following and follower lists are newest relation first", async () => {
    const { store } = await fresh();
    await store.follow(1, 2);
    await store.follow(1, 3);
    await store.follow(1, 4);
    await store.follow(2, 4);
    await store.follow(3, 4);
    assert.deepEqual(await store.listFollowing(1, 1_000), [4, 3, 2]);
    assert.deepEqual(await store.listFollowers(4, 1_000), [3, 2, 1]);
    // Beyond the limit, the newest relations are the ones answered.
    assert.deepEqual(await store.listFollowing(1, 2), [4, 3]);
    assert.deepEqual(await store.listFollowers(4, 1), [3]);
    // Re-following makes the relation the newest.
    await store.unfollow(1, 3);
    await store.follow(1, 3);
    await store.unfollow(2, 4);
    await store.follow(2, 4);
    assert.deepEqual(await store.listFollowing(1, 1_000), [3, 4, 2]);
    assert.deepEqual(await store.listFollowers(4, 1_000), [2, 3, 1]);
    assert.deepEqual(await store.listFollowing(99, 1_000), []);
    assert.deepEqual(await store.listFollowers(99, 1_000), []);
  });

  test("friends are mutual follows, ordered by when the pair became mutual (the later relation)", async () => {
    const { store } = await fresh();
    await store.follow(1, 2); // 1→2 first …
    await store.follow(1, 3);
    await store.follow(3, 1); // 1 and 3 become friends
    await store.follow(4, 1); // one-way: not a friend
    await store.follow(1, 5); // one-way: not a friend
    await store.follow(2, 1); // … 1 and 2 become friends after 1 and 3 did
    assert.deepEqual(await store.listFriends(1, 1_000), [2, 3]);
    assert.deepEqual(await store.listFriends(2, 1_000), [1]);
    assert.deepEqual(await store.listFriends(3, 1_000), [1]);
    assert.deepEqual(await store.listFriends(4, 1_000), []);
    await store.unfollow(3, 1);
    assert.deepEqual(await store.listFriends(1, 1_000), [2]);
    await store.follow(3, 1);
    assert.deepEqual(await store.listFriends(1, 1_000), [3, 2]);
  });

  test("stats: zeros for unknown users, is_follow as seen by the viewer, order and repeats as asked", async () => {
    const { store } = await fresh();
    await store.follow(1, 2);
    await store.follow(1, 3);
    await store.follow(2, 3);
    const stats = await store.stats(1, [3, 42, 2, 1, 3]);
    assert.deepEqual(stats, [
      { userId: 3, followCount: 0, followerCount: 2, isFollow: true },
      { userId: 42, followCount: 0, followerCount: 0, isFollow: false },
      { userId: 2, followCount: 1, followerCount: 1, isFollow: true },
      { userId: 1, followCount: 2, followerCount: 0, isFollow: false },
      { userId: 3, followCount: 0, followerCount: 2, isFollow: true },
    ]);
    assert.deepEqual(await store.stats(1, []), []);
    // Past one chunk of ids.
    const many = Array.from({ length: 1200 }, (_, i) => 10_000 + i);
    many[600] = 3;
    many[1199] = 2;
    const big = await store.stats(1, many);
    assert.equal(big.length, 1200);
    assert.deepEqual(big[600], { userId: 3, followCount: 0, followerCount: 2, isFollow: true });
    assert.deepEqual(big[1199], { userId: 2, followCount: 1, followerCount: 1, isFollow: true });
    assert.equal(big.filter((s) => s.isFollow).length, 2);
  });

  test("counts never drift: 240 concurrent random follow/unfollow over 4 users through 3 handles", async () => {
    const url = await backend.freshUrl();
    const handles = await Promise.all(
      [0, 1, 2].map(() => backend.open<RelationTables>(url, relationMigrations, RELATION_MIGRATION_TABLE)),
    );
    const stores = handles.map((h) => new RelationStore(h.db));
    const net = await runStorm(stores, { ops: 240, users: 4, seed: 20260101, concurrency: 24 });
    await assertConsistent(handles[0]!.db, net, 4);
  });

  test("counts never drift: separate processes racing on a fresh database (migrations included)", async () => {
    const url = await backend.freshUrl();
    const outputs = await Promise.all(
      [11, 22, 33].map((seed) =>
        run(process.execPath, [STORM_WORKER, url, String(seed), "100", "4", "8"], {
          timeout: 60_000,
          encoding: "utf8",
        }),
      ),
    );
    const net = mergeNet(...outputs.map((o) => JSON.parse(o.stdout) as NetByPair));
    const h = await backend.open<RelationTables>(url, relationMigrations, RELATION_MIGRATION_TABLE);
    await assertConsistent(h.db, net, 4);
    const applied = await h.db
      .selectFrom(RELATION_MIGRATION_TABLE as never)
      .selectAll()
      .execute();
    assert.equal(applied.length, Object.keys(relationMigrations).length);
  });
});
