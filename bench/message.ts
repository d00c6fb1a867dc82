// Chat benchmark (a script, not a test). Run: node bench/message.ts [--quick]
//
// One system (tests/harness: real etcd, SQLite in a temp dir, 2 user + 2 relation + 2 message instances
// and the gateway), K pairs of friends, and three requests driven by wrk in the same rounds (each round
// starts at the next request, so a busy machine hurts them alike):
//   user-info   GET /douyin/user/?user_id&token (user.GetUser ∥ relation.GetRelationStats): the base
//   chat-send   POST /douyin/message/action/, each connection cycling through the pairs
//               (message.SendMessage -> relation.IsFriend, one transaction under the conversation's lock)
//   chat-poll   GET /douyin/message/chat/?pre_msg_time=<newest> for each pair: a poll with nothing new,
//               what clients do most (message.ListMessages on the conversation index)
// For each request and round: req/s, p50/p99 (wrk), CPU µs per request of each process group; then the
// ratios to user-info as medians of per-round ratios.
//
// Default: 5 rounds × 8 s, wrk -t1 -c32, 16 pairs. --quick: 2 rounds × 4 s. Flags: --rounds N
// --seconds S --connections C --pairs K --json FILE
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { call, DzugSystem } from "../tests/harness/system.ts";
import { groupCpu } from "./lib/procs.ts";
import { fmt, markdownTable } from "./lib/stats.ts";
import { runWrk, type WrkResult, wrkErrorCount } from "./lib/wrk.ts";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string", default: "32" },
    pairs: { type: "string", default: "16" },
    json: { type: "string" },
  },
});
const rounds = Number(flags.rounds ?? (flags.quick ? 2 : 5));
const seconds = Number(flags.seconds ?? (flags.quick ? 4 : 8));
const connections = Number(flags.connections);
const pairCount = Number(flags.pairs);

interface Account {
  id: number;
  token: string;
}

const dir = mkdtempSync(join(tmpdir(), "dzug-bench-message-"));
const sys = await DzugSystem.start({ replicas: { user: 2, relation: 2, message: 2 } });
const origin = sys.url;

async function account(i: number): Promise<Account> {
  const { body } = await call(origin, "POST", "/douyin/user/register/", { username: `bm${i}`, password: "secret123" });
  return { id: body.user_id, token: body.token };
}

/** Lua for wrk: each connection cycles through prepared requests. */
function cycling(requests: Array<{ method: string; path: string; body?: string }>): string {
  const items = requests
    .map(
      (r) =>
        `wrk.format(${JSON.stringify(r.method)}, ${JSON.stringify(r.path)}, {["Host"]="${new URL(origin).host}", ["Content-Type"]="application/x-www-form-urlencoded"}, ${r.body === undefined ? "nil" : JSON.stringify(r.body)})`,
    )
    .join(",\n  ");
  return `local reqs = {\n  ${items}\n}\nlocal i = math.random(#reqs)\nrequest = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n`;
}

const qs = (p: Record<string, string | number>) =>
  new URLSearchParams(Object.entries(p).map(([k, v]): [string, string] => [k, String(v)])).toString();

try {
  const pairs: Array<[Account, Account]> = [];
  for (let k = 0; k < pairCount; k++) {
    const [a, b] = [await account(2 * k), await account(2 * k + 1)];
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const)
      await call(origin, "POST", "/douyin/relation/action/", { token: x.token, to_user_id: y.id, action_type: 1 });
    await call(origin, "POST", "/douyin/message/action/", {
      token: a.token,
      to_user_id: b.id,
      action_type: 1,
      content: "hi",
    });
    pairs.push([a, b]);
  }
  const [first] = pairs[0]!;
  /** Requests per design; chat-poll's pre_msg_time is each conversation's newest create_time, read anew each round. */
  const designs: Record<string, () => Promise<{ url: string; lua?: string }>> = {
    "user-info": async () => ({ url: `${origin}/douyin/user/?${qs({ user_id: first.id, token: first.token })}` }),
    "chat-send": async () => ({
      url: origin,
      lua: cycling(
        pairs.flatMap(([a, b]) => [
          {
            method: "POST",
            path: "/douyin/message/action/",
            body: qs({ token: a.token, to_user_id: b.id, action_type: 1, content: "bench message\nwith a line break" }),
          },
          {
            method: "POST",
            path: "/douyin/message/action/",
            body: qs({ token: b.token, to_user_id: a.id, action_type: 1, content: "an answer" }),
          },
        ]),
      ),
    }),
    "chat-poll": async () => {
      const polls = [];
      for (const [a, b] of pairs) {
        const list = (await call(origin, "GET", "/douyin/message/chat/", { token: a.token, to_user_id: b.id })).body
          .message_list;
        polls.push({
          method: "GET",
          path: `/douyin/message/chat/?${qs({ token: a.token, to_user_id: b.id, pre_msg_time: list.at(-1).create_time })}`,
        });
      }
      return { url: origin, lua: cycling(polls) };
    },
  };
  const names = Object.keys(designs);
  const pids = Object.fromEntries(
    ["user", "relation", "message"].map((s) => [s, () => sys.live(s).map((i) => i.child.pid)]),
  ) as Record<string, () => (number | undefined)[]>;
  pids.gateway = () => [sys.gateway?.child.pid];
  pids.etcd = () => [sys.etcd.pid];
  const results = new Map<string, Array<WrkResult & { cpuUs: Record<string, number> }>>();
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(round + j) % names.length]!;
      const target = await designs[name]!();
      const before = groupCpu(pids);
      const r = await runWrk({ ...target, threads: 1, connections, seconds, dir });
      const after = groupCpu(pids);
      if (wrkErrorCount(r) > 0) throw new Error(`${name}: wrk errors ${JSON.stringify(r.errors)}`);
      const cpuUs = Object.fromEntries(
        Object.keys(pids).map((g) => [g, (((after[g] ?? 0) - (before[g] ?? 0)) * 1e6) / r.requests]),
      );
      results.set(name, [...(results.get(name) ?? []), { ...r, cpuUs }]);
      process.stderr.write(`round ${round + 1} ${name}: ${fmt.rps(r.rps)} req/s\n`);
    }
  }
  const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const base = results.get("user-info")!;
  const total = (r: { cpuUs: Record<string, number> }) => Object.values(r.cpuUs).reduce((a, b) => a + b, 0);
  const rows = names.map((name) => {
    const rs = results.get(name)!;
    return [
      name,
      fmt.rps(median(rs.map((r) => r.rps))),
      fmt.ms(median(rs.map((r) => r.p50))),
      fmt.ms(median(rs.map((r) => r.p99))),
      fmt.rps(median(rs.map(total))),
      ...["gateway", "user", "relation", "message"].map((g) => fmt.rps(median(rs.map((r) => r.cpuUs[g] ?? 0)))),
      fmt.ratio(median(rs.map((r, i) => r.rps / base[i]!.rps))),
      fmt.ratio(median(rs.map((r, i) => total(r) / total(base[i]!)))),
    ];
  });
  const header = [
    "request",
    "req/s",
    "p50 ms",
    "p99 ms",
    "CPU µs/req",
    "gateway",
    "user",
    "relation",
    "message",
    "req/s vs user-info",
    "CPU vs user-info",
  ];
  process.stdout.write(
    `${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        " ",
      )}; ${rounds} rounds × ${seconds} s, wrk -t1 -c${connections}, ${pairCount} pairs\n\n${markdownTable([header, ...rows])}\n`,
  );
  if (flags.json) writeFileSync(flags.json, JSON.stringify(Object.fromEntries(results), null, 2));
} finally {
  await sys.destroy();
  rmSync(dir, { recursive: true, force: true });
}
