// The http2 transport does what grpc-js does for its own sessions (platform/discovery/transport/h2-session.ts,
// h2-call.ts, grpc-wire.ts): no session memory cap and a multi-MiB flow-control window (many large
// answers at once from a grpc-js server), a send-size limit, a content-type check, gzip/deflate answers
// decoded, and keepalive back-off on a `too_many_pings` GOAWAY. grpc-js' server neither compresses
// answers nor sends too_many_pings, so raw node:http2 servers stand in for a server that does.
import assert from "node:assert/strict";
import { createServer as createHttp2Server, constants as h2, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import { deflateSync, gzipSync } from "node:zlib";
import { ClientError, createServer, Status } from "nice-grpc";
import { defaultChannelOptions } from "../../platform/discovery/balancing/pool.ts";
import { normalizeServiceDefinition } from "../../platform/discovery/client.ts";
import { h2UnaryCall } from "../../platform/discovery/transport/h2-call.ts";
import {
  DEFAULT_FLOW_CONTROL_WINDOW,
  H2Session,
  type H2SessionOptions,
  h2SessionOptions,
} from "../../platform/discovery/transport/h2-session.ts";
import { GetUserResponse, UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { waitFor } from "../harness/wait.ts";
import { captureLogger, echoImpl } from "./helpers.ts";

const getUser = normalizeServiceDefinition(UserServiceDefinition).getUser;
const register = normalizeServiceDefinition(UserServiceDefinition).register;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function session(address: string, overrides: Partial<H2SessionOptions> = {}): H2Session {
  const s = new H2Session(
    address,
    { ...h2SessionOptions(defaultChannelOptions), ...overrides },
    captureLogger().logger,
  );
  cleanups.push(() => s.close());
  return s;
}

const opts = () => ({ signal: new AbortController().signal, deadline: Date.now() + 20_000 });

async function rejection(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ClientError, String(err));
    return err;
  }
  assert.fail("the call succeeded");
}

/** A raw HTTP/2 server answering every stream with `onStream`. */
async function rawServer(onStream: (stream: ServerHttp2Stream) => void) {
  const server = createHttp2Server();
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    onStream(stream);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("http2 transport, hardened like grpc-js", () => {
  test("many multi-MiB answers at once: no session memory cap, a window sized for them", async () => {
    const server = createServer({ "grpc.max_send_message_length": 8 * 1024 * 1024 });
    server.add(UserServiceDefinition, {
      ...echoImpl("big"),
      async getUser(req) {
        return { user: { id: req.id, name: "x".repeat(3_000_000) } };
      },
    });
    const port = await server.listen("127.0.0.1:0");
    cleanups.push(() => server.forceShutdown());
    const s = session(`127.0.0.1:${port}`);
    // 16 × 3 MB in flight on one session: past Node's 10 MB default maxSessionMemory.
    const answers = (await Promise.all(
      Array.from({ length: 16 }, (_, id) => h2UnaryCall(s, getUser, { id: id + 1 }, opts())),
    )) as Array<{ user: { name: string } }>;
    for (const a of answers) assert.equal(a.user.name.length, 3_000_000);
    const connection = s.usable();
    assert.ok(connection);
    assert.equal(connection.localSettings.initialWindowSize, DEFAULT_FLOW_CONTROL_WINDOW, "stream window");
    assert.ok(
      (connection.state.localWindowSize ?? 0) >= DEFAULT_FLOW_CONTROL_WINDOW / 2,
      `connection window ${connection.state.localWindowSize}`,
    );
    assert.equal(
      h2SessionOptions({ "grpc-node.flow_control_window": 1 << 20 }).flowControlWindow,
      1 << 20,
      "configurable as grpc-js' grpc-node.flow_control_window",
    );
  });

  test("a request past grpc.max_send_message_length fails RESOURCE_EXHAUSTED and is not sent", async () => {
    let received = 0;
    const server = createServer();
    server.add(UserServiceDefinition, {
      ...echoImpl("send"),
      async register() {
        received++;
        return { userId: 1, token: "t" };
      },
    });
    const port = await server.listen("127.0.0.1:0");
    cleanups.push(() => server.forceShutdown());
    const s = session(`127.0.0.1:${port}`, h2SessionOptions({ "grpc.max_send_message_length": 100 }));
    const err = await rejection(h2UnaryCall(s, register, { username: "u".repeat(200), password: "p" }, opts()));
    assert.equal(err.code, Status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /Sent message larger than max \(\d+ vs\. 100\)/);
    await h2UnaryCall(s, register, { username: "u", password: "p" }, opts());
    assert.equal(received, 1, "only the small request reached the server");
  });

  test("a 200 answer that is not application/grpc is UNKNOWN, naming its content-type", async () => {
    const address = await rawServer((stream) => {
      stream.respond({ ":status": 200, "content-type": "text/html" });
      stream.end("<html>a proxy's page</html>");
    });
    const err = await rejection(h2UnaryCall(session(address), getUser, { id: 1 }, opts()));
    assert.equal(err.code, Status.UNKNOWN);
    assert.equal(err.details, "Invalid content-type: text/html");
  });

  test("gzip and deflate answers are decoded (grpc-accept-encoding offers them); others are a clear INTERNAL", async () => {
    const body = Buffer.from(
      GetUserResponse.encode(GetUserResponse.fromPartial({ user: { id: 3, name: "z".repeat(50_000) } })).finish(),
    );
    let answered = 0;
    const address = await rawServer((stream) => {
      stream.on("data", () => {});
      stream.on("end", () => {
        const encoding = ["gzip", "deflate", "br"][answered++ % 3] as string;
        const packed = encoding === "gzip" ? gzipSync(body) : encoding === "deflate" ? deflateSync(body) : body;
        const framed = Buffer.alloc(5 + packed.length);
        framed[0] = 1;
        framed.writeUInt32BE(packed.length, 1);
        packed.copy(framed, 5);
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-encoding": encoding },
          {
            waitForTrailers: true,
          },
        );
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(framed);
      });
    });
    const s = session(address);
    for (const encoding of ["gzip", "deflate"]) {
      const r = (await h2UnaryCall(s, getUser, { id: 3 }, opts())) as { user: { name: string } };
      assert.equal(r.user.name.length, 50_000, encoding);
    }
    const br = await rejection(h2UnaryCall(s, getUser, { id: 3 }, opts()));
    assert.equal(br.code, Status.INTERNAL);
    assert.match(br.details, /grpc-encoding br is not supported/);
  });

  test("a too_many_pings GOAWAY doubles the keepalive interval", async () => {
    const address = await rawServer((stream) => {
      stream.session?.goaway(h2.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from("too_many_pings"));
      stream.close(h2.NGHTTP2_REFUSED_STREAM);
    });
    const s = session(address, { keepaliveTimeMs: 1_000, keepaliveTimeoutMs: 1_000 });
    await rejection(h2UnaryCall(s, getUser, { id: 1 }, opts()));
    await waitFor(() => s.keepaliveTimeMs === 2_000, { timeoutMs: 5_000, message: "keepalive doubled" });
  });
});
