// The message store on SQLite and PostgreSQL: conversations oldest first, the latest page, polling by
// time, and create_time unique and increasing per conversation under concurrent senders on two
// connections pools (two service instances) even when the clock stands still.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MESSAGE_MIGRATION_TABLE, messageMigrations } from "../../services/message/migrations.ts";
import { type MessageRow, MessageStore, type MessageTables } from "../../services/message/store.ts";
import { eachBackend } from "./backends.ts";

eachBackend((backend) => {
  async function stores(now?: () => number) {
    const url = await backend.freshUrl();
    const a = await backend.open<MessageTables>(url, messageMigrations, MESSAGE_MIGRATION_TABLE);
    const b = await backend.open<MessageTables>(url, messageMigrations, MESSAGE_MIGRATION_TABLE);
    return [new MessageStore(a.db, now), new MessageStore(b.db, now)] as const;
  }

  test("a conversation is both directions, oldest first; latest page with 0, the next ones after a time", async () => {
    const [store] = await stores();
    const sent: MessageRow[] = [];
    for (let i = 0; i < 7; i++) sent.push(await store.send(i % 2 ? 1 : 2, i % 2 ? 2 : 1, `m${i}`));
    await store.send(1, 3, "other conversation");
    assert.deepEqual(await store.list(1, 2, 0, 200), sent);
    assert.deepEqual(await store.list(2, 1, 0, 3), sent.slice(4));
    assert.deepEqual(await store.list(1, 2, sent[2]!.createTime, 200), sent.slice(3));
    assert.deepEqual(await store.list(1, 2, sent[2]!.createTime, 2), sent.slice(3, 5));
    assert.deepEqual(await store.list(1, 2, sent[6]!.createTime, 200), []);
    for (let i = 1; i < sent.length; i++) assert.ok(sent[i]!.createTime > sent[i - 1]!.createTime);
  });

  test("latest: the newest message of each conversation asked for, none for peers without one", async () => {
    const [store] = await stores();
    await store.send(1, 2, "a");
    const b = await store.send(2, 1, "b");
    const c = await store.send(1, 5, "c");
    await store.send(3, 4, "not 1's");
    const latest = await store.latest(1, [2, 5, 4, 9, 1]);
    assert.deepEqual(
      latest.toSorted((x, y) => x.id - y.id),
      [b, c],
    );
  });

  test("concurrent senders on two pools, clock standing still: unique increasing times, polling sees each once", async () => {
    const [a, b] = await stores(() => 1_000);
    const SENDS = 60;
    const seen: MessageRow[] = [];
    let done = false;
    const poller = (async () => {
      let after = 1; // a client that read the conversation before the first of these (0 would ask for the latest page)
      for (;;) {
        const finished = done;
        const page = await b.list(1, 2, after, 7);
        seen.push(...page);
        if (page.length > 0) after = page.at(-1)!.createTime;
        else if (finished) return;
      }
    })();
    const results = await Promise.all(
      Array.from({ length: SENDS }, (_, i) => (i % 2 ? a : b).send(i % 3 ? 1 : 2, i % 3 ? 2 : 1, `c${i}`)),
    );
    done = true;
    await poller;
    const times = results.map((r) => r.createTime).sort((x, y) => x - y);
    assert.equal(new Set(times).size, SENDS, "no two messages share a create_time");
    assert.equal(times[0], 1_000);
    assert.equal(times.at(-1), 1_000 + SENDS - 1);
    const all = await a.list(1, 2, 0, 200);
    assert.equal(all.length, SENDS);
    assert.deepEqual(seen, all, "polling by create_time neither skipped nor repeated a message");
  });
});
