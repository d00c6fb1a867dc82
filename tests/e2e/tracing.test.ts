// One HTTP call gives one trace spanning gateway -> relation -> user (and gateway -> message -> relation),
// exported over OTLP to a local receiver.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { call, DzugSystem } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
}

/** A minimal OTLP/HTTP JSON trace receiver. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url === "/v1/traces") {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          for (const rs of body.resourceSpans ?? []) {
            const service =
              rs.resource?.attributes?.find((a: { key: string }) => a.key === "service.name")?.value?.stringValue ?? "";
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                this.spans.push({
                  service,
                  traceId: s.traceId,
                  spanId: s.spanId,
                  parentSpanId: s.parentSpanId ?? "",
                  name: s.name,
                  kind: s.kind,
                });
              }
            }
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const receiver = new OtlpReceiver();
let sys: DzugSystem;

before(async () => {
  await receiver.start();
  sys = await DzugSystem.start({
    users: 1,
    relations: 1,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "200",
    },
  });
});
after(async () => {
  await sys?.destroy();
  await receiver.stop();
});

test("GET /douyin/relation/follow/list/ is one trace across gateway, relation and user", async () => {
  const reg = async (name: string) =>
    (await call(sys.url, "POST", "/douyin/user/register/", { username: name, password: "secret123" })).body;
  const a = await reg(`trace-a-${Date.now()}`);
  const b = await reg(`trace-b-${Date.now()}`);
  await call(sys.url, "POST", "/douyin/relation/action/", { token: a.token, to_user_id: b.user_id, action_type: 1 });

  const traceparentTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const res = await fetch(`${sys.url}/douyin/relation/follow/list/?user_id=${a.user_id}&token=${a.token}`, {
    headers: { traceparent: `00-${traceparentTrace}-00f067aa0ba902b7-01` },
  });
  assert.equal(((await res.json()) as { status_code: number }).status_code, 0);

  const inTrace = () => receiver.spans.filter((s) => s.traceId === traceparentTrace);
  const spans = await waitFor(
    () => {
      const s = inTrace();
      const services = new Set(s.map((x) => x.service));
      return services.has("dzug-gateway") && services.has("dzug-relation") && services.has("dzug-user") ? s : undefined;
    },
    { timeoutMs: 20_000, message: "spans of gateway, relation and user in one trace" },
  );

  // The chain: gateway server span -> gateway client span -> relation server span -> relation client span -> user server span.
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const userServer = spans.find((s) => s.service === "dzug-user" && s.name.includes("GetUsers"));
  assert.ok(userServer, `no user GetUsers span in ${JSON.stringify(spans.map((s) => [s.service, s.name]))}`);
  const chain: string[] = [];
  for (let s: ReceivedSpan | undefined = userServer; s; s = byId.get(s.parentSpanId)) chain.push(s.service);
  assert.deepEqual(
    [...new Set(chain)],
    ["dzug-user", "dzug-relation", "dzug-gateway"],
    `ancestry: ${chain.join(" <- ")}`,
  );
  const root = spans.find((s) => s.service === "dzug-gateway" && !byId.has(s.parentSpanId));
  assert.equal(root?.parentSpanId, "00f067aa0ba902b7", "the gateway continues the caller's trace");
});

test("POST /douyin/message/action/ is one trace across gateway, message and relation", async () => {
  const reg = async (name: string) =>
    (await call(sys.url, "POST", "/douyin/user/register/", { username: name, password: "secret123" })).body;
  const a = await reg(`trace-c-${Date.now()}`);
  const b = await reg(`trace-d-${Date.now()}`);
  await call(sys.url, "POST", "/douyin/relation/action/", { token: a.token, to_user_id: b.user_id, action_type: 1 });
  await call(sys.url, "POST", "/douyin/relation/action/", { token: b.token, to_user_id: a.user_id, action_type: 1 });

  const traceId = "5cf92f3577b34da6a3ce929d0e0e4737";
  const res = await fetch(`${sys.url}/douyin/message/action/?to_user_id=${b.user_id}&token=${a.token}&action_type=1`, {
    method: "POST",
    headers: { traceparent: `00-${traceId}-00f067aa0ba902b8-01`, "content-type": "application/json" },
    body: JSON.stringify({ content: "traced hello" }),
  });
  assert.equal(((await res.json()) as { status_code: number }).status_code, 0);

  // The chain from relation's IsFriend server span up to the gateway, once every process exported it.
  const ancestry = () => {
    const spans = receiver.spans.filter((x) => x.traceId === traceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const chain: string[] = [];
    let s = spans.find((x) => x.service === "dzug-relation" && x.name.includes("IsFriend"));
    for (; s; s = byId.get(s.parentSpanId)) chain.push(s.service);
    return [...new Set(chain)];
  };
  await waitFor(() => ancestry().includes("dzug-gateway"), {
    timeoutMs: 20_000,
    message: "the whole chain exported",
  }).catch(() => undefined);
  const chain = ancestry();
  assert.deepEqual(chain, ["dzug-relation", "dzug-message", "dzug-gateway"], chain.join(" <- "));
});
