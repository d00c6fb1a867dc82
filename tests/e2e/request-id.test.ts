// A request id given to the gateway reaches every service the request touches and names their log lines.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, DzugSystem } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

let sys: DzugSystem;
before(async () => {
  sys = await DzugSystem.start({ users: 1, relations: 1, env: { DZUG_LOG_LEVEL: "debug" } });
});
after(async () => {
  await sys?.destroy();
});

test("x-request-id travels gateway -> relation -> user and is on their log lines", async () => {
  const { body: a } = await call(sys.url, "POST", "/douyin/user/register/", {
    username: `rid-${Date.now()}`,
    password: "secret123",
  });
  const rid = `test-rid-${Date.now()}`;
  const res = await fetch(`${sys.url}/douyin/relation/follow/list/?user_id=${a.user_id}&token=${a.token}`, {
    headers: { "x-request-id": rid },
  });
  assert.equal(res.headers.get("x-request-id"), rid);
  assert.equal(((await res.json()) as { status_code: number }).status_code, 0);
  const linesWith = (service: string) =>
    sys
      .live(service as "user" | "relation")
      .flatMap((i) => i.logs().split("\n"))
      .filter((l) => l.includes(`"req_id":"${rid}"`));
  await waitFor(() => linesWith("relation").some((l) => l.includes("StreamFollowing")), {
    timeoutMs: 10_000,
    message: "relation logs the call with the request id",
  });
  await waitFor(() => linesWith("user").some((l) => l.includes("GetUser")), {
    timeoutMs: 10_000,
    message: "user logs the lookup of the list's owner with the same request id",
  });
});
