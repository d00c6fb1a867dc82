// With tracing enabled, each request is a SERVER span, child of the incoming W3C traceparent, and the
// handlers (so the service calls, where nice-grpc-opentelemetry makes client spans) run inside it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { call, form, multipart, startTestApp, type TestApp, tokens } from "./fakes.ts";

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

let t: TestApp;
before(async () => {
  t = await startTestApp({ tracing: true });
});
after(async () => {
  await t.close();
  await provider.shutdown();
});

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

test("SERVER span named by route, child of traceparent, active in the handler (also after body parsing)", async () => {
  const id = t.world.addUser("tina");
  const token = await tokens.issue(id);
  const headers = { traceparent: `00-${TRACE}-${PARENT}-01` };
  const cases: Array<[string, RequestInit, string, string]> = [
    [`/douyin/user/?token=${token}`, { headers }, "HTTP GET /douyin/user/", "getUser"],
    [
      "/douyin/user/login",
      {
        method: "POST",
        body: form({ username: "tina", password: "secret123" }).body,
        headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
      },
      "HTTP POST /douyin/user/login/",
      "login",
    ],
    [
      "/douyin/user/login",
      { method: "POST", headers, ...multipart({ username: "tina", password: "secret123" }) },
      "HTTP POST /douyin/user/login/",
      "login",
    ],
  ];
  for (const [path, init, name, method] of cases) {
    exporter.reset();
    t.world.calls = [];
    const r = await call(t.url + path, init);
    assert.equal(r.status, 200, r.text);
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.kind === SpanKind.SERVER);
    assert.ok(server, `server span for ${path}`);
    assert.equal(server.name, name);
    assert.equal(server.spanContext().traceId, TRACE);
    assert.equal(server.parentSpanContext?.spanId, PARENT);
    assert.equal(server.attributes["http.route"], name.split(" ")[2]);
    assert.equal(server.attributes["http.response.status_code"], 200);
    const c = t.world.calls.find((x) => x.method === method);
    assert.ok(c, `${method} called`);
    assert.equal(c.traceId, TRACE, `${method} ran inside the request's trace`);
    assert.equal(c.spanId, server.spanContext().spanId);
  }
});

test("unknown routes are spans too, named unmatched", async () => {
  exporter.reset();
  await call(`${t.url}/nope`);
  const [span] = exporter.getFinishedSpans();
  assert.equal(span?.name, "HTTP GET unmatched");
});
