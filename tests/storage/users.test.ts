import assert from "node:assert/strict";
import { test } from "node:test";
import { USER_MIGRATION_TABLE, userMigrations } from "../../services/user/migrations.ts";
import { UsernameTakenError, UserStore, type UserTables } from "../../services/user/store.ts";
import { eachBackend } from "./backends.ts";

eachBackend((backend) => {
  async function freshStore() {
    const h = await backend.open<UserTables>(await backend.freshUrl(), userMigrations, USER_MIGRATION_TABLE);
    return { h, store: new UserStore(h.db) };
  }

  test("create returns increasing ids; a new user has empty profile fields and zero counts", async () => {
    const { store } = await freshStore();
    const before = Date.now();
    const a = await store.create("alice", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA");
    const b = await store.create("bob", "hash-b");
    assert.ok(Number.isSafeInteger(a) && a > 0);
    assert.ok(b > a);
    const alice = await store.getById(a);
    assert.ok(alice);
    assert.equal(alice.id, a);
    assert.equal(alice.username, "alice");
    assert.equal(alice.passwordHash, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA");
    assert.equal(alice.avatar, "");
    assert.equal(alice.backgroundImage, "");
    assert.equal(alice.signature, "");
    assert.equal(alice.totalFavorited, 0);
    assert.equal(alice.workCount, 0);
    assert.equal(alice.favoriteCount, 0);
    assert.equal(typeof alice.createdAt, "number");
    assert.ok(alice.createdAt >= before - 1000 && alice.createdAt <= Date.now() + 1000);
  });

  test("a duplicate username fails with UsernameTakenError and changes nothing", async () => {
    const { h, store } = await freshStore();
    const id = await store.create("carol", "first");
    await assert.rejects(store.create("carol", "second"), (err: unknown) => {
      assert.ok(err instanceof UsernameTakenError);
      assert.equal(err.username, "carol");
      return true;
    });
    const carol = await store.findByUsername("carol");
    assert.equal(carol?.id, id);
    assert.equal(carol?.passwordHash, "first");
    const n = await h.db
      .selectFrom("users")
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirstOrThrow();
    assert.equal(Number(n.n), 1);
  });

  test("one account per usernameKey (case, width, NFC); exact lookups stay exact", async () => {
    const { store } = await freshStore();
    const lower = await store.create("dave", "h");
    for (const other of ["Dave", "DAVE", "ｄａｖｅ"])
      await assert.rejects(store.create(other, "h"), UsernameTakenError, other);
    const spaced = await store.create("dave ", "h");
    const accented = await store.create("davé", "h");
    assert.equal(new Set([lower, spaced, accented]).size, 3);
    for (const spelling of ["dave", "Dave", "DAVE", "ｄａｖｅ"])
      assert.equal((await store.findByName(spelling))?.id, lower);
    assert.equal((await store.findByName("DAVE\u0301"))?.id, accented, "NFD + case");
    assert.equal((await store.findByUsername("dave"))?.id, lower);
    assert.equal((await store.findByUsername("dave "))?.id, spaced);
    assert.equal(await store.findByUsername("DAVE"), undefined, "findByUsername is exact");
    assert.equal(await store.findByName("dav%"), undefined);
  });

  test("migration 0002 keys existing rows in id order; a later colliding spelling keeps its exact name only", async () => {
    const url = await backend.freshUrl();
    const first = { "0001_users": userMigrations["0001_users"]! };
    const old = await backend.open<any>(url, first, USER_MIGRATION_TABLE);
    for (const username of ["Erin", "erin", "ｆｒａｎｋ"])
      await old.db.insertInto("users").values({ username, password_hash: "h" }).execute();
    const h = await backend.open<UserTables>(url, userMigrations, USER_MIGRATION_TABLE);
    const store = new UserStore(h.db);
    const rows = await h.db.selectFrom("users").select(["username", "username_key"]).orderBy("id").execute();
    assert.deepEqual(
      rows.map((r) => [r.username, r.username_key]),
      [
        ["Erin", "erin"],
        ["erin", null],
        ["ｆｒａｎｋ", "frank"],
      ],
    );
    assert.equal((await store.findByName("ERIN"))?.username, "Erin");
    assert.equal((await store.findByUsername("erin"))?.username, "erin", "still reachable by its exact name");
    assert.equal((await store.findByName("frank"))?.username, "ｆｒａｎｋ");
  });

  test("SQL-ish and unusual strings are stored and found verbatim", async () => {
    const { h, store } = await freshStore();
    const names = ["'; DROP TABLE users; --", 'Robert"); DROP TABLE users;--', "%_\\", "用户🙂", "two\nlines\ttab"];
    for (const name of names) {
      const id = await store.create(name, `hash of ${name}`);
      const row = await store.findByUsername(name);
      assert.equal(row?.id, id);
      assert.equal(row?.username, name);
      assert.equal(row?.passwordHash, `hash of ${name}`);
    }
    const n = await h.db
      .selectFrom("users")
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirstOrThrow();
    assert.equal(Number(n.n), names.length);
  });

  test("lookups of missing users return undefined / are skipped", async () => {
    const { store } = await freshStore();
    assert.equal(await store.getById(12345), undefined);
    assert.equal(await store.findByUsername("nobody"), undefined);
    assert.deepEqual(await store.getByIds([]), []);
    assert.deepEqual(await store.getByIds([1, 2, 3]), []);
  });

  test("getByIds returns rows in the order asked, skipping missing ids, also past one chunk", async () => {
    const { store } = await freshStore();
    const ids: number[] = [];
    for (const name of ["u1", "u2", "u3", "u4"]) ids.push(await store.create(name, "h"));
    const [u1, u2, u3, u4] = ids as [number, number, number, number];
    const asked = [u3, 999_999, u1, u4, u2, u3];
    assert.deepEqual(
      (await store.getByIds(asked)).map((u) => u.username),
      ["u3", "u1", "u4", "u2", "u3"],
    );
    // 1,500 ids: three chunks, the existing ones spread across them, in reverse order.
    const many = Array.from({ length: 1500 }, (_, i) => 1_000_000 + i);
    many[10] = u4;
    many[700] = u2;
    many[1499] = u1;
    assert.deepEqual(
      (await store.getByIds(many)).map((u) => u.id),
      [u4, u2, u1],
    );
  });

  test("concurrent registrations of one name across handles: exactly one wins", async () => {
    const url = await backend.freshUrl();
    const stores = await Promise.all(
      [0, 1, 2].map(
        async () => new UserStore((await backend.open<UserTables>(url, userMigrations, USER_MIGRATION_TABLE)).db),
      ),
    );
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => stores[i % stores.length]!.create("popular", `h${i}`)),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assert.equal(won.length, 1);
    for (const r of lost) assert.ok((r as PromiseRejectedResult).reason instanceof UsernameTakenError);
    const row = await stores[0]!.findByUsername("popular");
    assert.equal(row?.id, (won[0] as PromiseFulfilledResult<number>).value);
  });
});
