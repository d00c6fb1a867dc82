// The http2 transport (platform/discovery/transport/h2-session.ts, h2-call.ts) against real servers: a grpc-js
// server through nice-grpc (answers, rich error details, metadata, deadlines, aborts, a restart) and
// raw node:http2 servers standing in for what grpc-js never sends (trailers-only answers, HTTP errors,
// REFUSED_STREAM, GOAWAY, a dropped connection), each classified as never sent or not.
import assert from "node:assert/strict";
import { createServer as createHttp2Server, constants as h2, type ServerHttp2Stream } from "node:http2";
import { type AddressInfo, connect as connectTcp, createServer as createTcpServer } from "node:net";
import { after, describe, test } from "node:test";
import { connectivityState } from "@grpc/grpc-js";
import { ClientError, createServer, Metadata, type Server, Status } from "nice-grpc";
import { ErrorInfo, errorDetailsServerMiddleware, RichClientError, RichServerError } from "nice-grpc-error-details";
import { defaultChannelOptions } from "../../platform/discovery/balancing/pool.ts";
import { failedBeforeServer } from "../../platform/discovery/call-rules.ts";
import { normalizeServiceDefinition } from "../../platform/discovery/client.ts";
import { frame, grpcTimeout, MessageReader } from "../../platform/discovery/transport/grpc-wire.ts";
import { h2UnaryCall } from "../../platform/discovery/transport/h2-call.ts";
import { H2Session, h2SessionOptions } from "../../platform/discovery/transport/h2-session.ts";
import { runWithRequestId } from "../../platform/request-context.ts";
import {
  GetUserResponse,
  UserServiceDefinition,
  type UserServiceImplementation,
} from "../../proto/gen/dzug/user/v1/user.ts";
import { freePort } from "../harness/ports.ts";
import { scaled, waitFor } from "../harness/wait.ts";
import { captureLogger, echoImpl } from "./helpers.ts";

const getUser = normalizeServiceDefinition(UserServiceDefinition).getUser;
const register = normalizeServiceDefinition(UserServiceDefinition).register;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function session(address: string, overrides: Parameters<typeof h2SessionOptions>[0] = {}): H2Session {
  const s = new H2Session(
    address,
    h2SessionOptions({ ...defaultChannelOptions, ...overrides }),
    captureLogger().logger,
  );
  cleanups.push(() => s.close());
  return s;
}

const call = (s: H2Session, request: unknown, o: { signal?: AbortSignal; ms?: number; metadata?: Metadata } = {}) =>
  h2UnaryCall(s, getUser, request, {
    signal: o.signal ?? new AbortController().signal,
    deadline: Date.now() + (o.ms ?? 5_000),
    metadata: o.metadata,
  });

const opts = () => ({ signal: new AbortController().signal, deadline: Date.now() + 5_000 });

async function rejection(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ClientError, String(err));
    return err;
  }
  assert.fail("the call succeeded");
}

async function grpcServer(
  impl: Partial<UserServiceImplementation>,
  port = 0,
): Promise<{ server: Server; address: string }> {
  const server = createServer().use(errorDetailsServerMiddleware);
  server.add(UserServiceDefinition, { ...echoImpl("grpc"), ...impl });
  const bound = await server.listen(`127.0.0.1:${port}`);
  cleanups.push(() => server.forceShutdown());
  return { server, address: `127.0.0.1:${bound}` };
}

/** A raw HTTP/2 server answering every stream with `onStream`. */
async function rawServer(onStream: (stream: ServerHttp2Stream, headers: Record<string, unknown>) => void) {
  const server = createHttp2Server();
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    onStream(stream, headers);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("http2 transport", () => {
  test("answers, metadata (request id, -bin), a large answer over many DATA frames, details and statuses", async () => {
    const { address } = await grpcServer({
      async getUser(req, ctx) {
        if (req.id === 404) throw new ServerErrorWithDetails();
        if (req.id === 5) throw new RichServerError(Status.NOT_FOUND, "nö: 100% gone");
        const bin = ctx.metadata.get("trace-bin") as Uint8Array | undefined;
        const name =
          req.id === 7
            ? "x".repeat(3_000_000)
            : `${ctx.metadata.get("x-request-id")}|${bin ? Buffer.from(bin).toString("hex") : ""}`;
        return { user: { id: req.id, name } };
      },
    });
    const s = session(address);
    const r = (await runWithRequestId("req-1", () =>
      call(s, { id: 1 }, { metadata: Metadata({ "trace-bin": new Uint8Array([0, 255, 7]) }) }),
    )) as { user: { name: string } };
    assert.equal(r.user.name, "req-1|00ff07");
    const own = (await runWithRequestId("req-1", () =>
      call(s, { id: 1 }, { metadata: Metadata({ "x-request-id": "mine" }) }),
    )) as { user: { name: string } };
    assert.equal(own.user.name, "mine|", "the caller's request id wins");
    const big = (await call(s, { id: 7 })) as { user: { name: string } };
    assert.equal(big.user.name.length, 3_000_000);

    const nf = await rejection(call(s, { id: 5 }));
    assert.equal(nf.code, Status.NOT_FOUND);
    assert.equal(nf.details, "nö: 100% gone", "grpc-message is percent-decoded");
    const rich = await rejection(call(s, { id: 404 }));
    assert.ok(rich instanceof RichClientError, "details decoded as nice-grpc-error-details does");
    assert.equal(rich.code, Status.FAILED_PRECONDITION);
    assert.deepEqual(
      rich.extra.map((d) => (d.$type === "google.rpc.ErrorInfo" ? d.reason : d.$type)),
      ["TEST_REASON"],
    );
    const token = (await h2UnaryCall(s, register, { username: "u", password: "p" }, opts())) as { token: string };
    assert.equal(token.token, "grpc");
    const unimplemented = await rejection(
      h2UnaryCall(s, { ...getUser, path: "/dzug.user.v1.UserService/Nope" }, {}, opts()),
    );
    assert.equal(unimplemented.code, Status.UNIMPLEMENTED);
    assert.equal(failedBeforeServer(unimplemented), false);
  });

  test("max receive message length: a larger answer is RESOURCE_EXHAUSTED", async () => {
    const { address } = await grpcServer({});
    const s = session(address, { "grpc.max_receive_message_length": 8 });
    const err = await rejection(call(s, { id: 1 }));
    assert.equal(err.code, Status.RESOURCE_EXHAUSTED, err.message);
  });

  test("trailers-only answers and non-200 HTTP statuses, as the gRPC spec maps them", async () => {
    const address = await rawServer((stream, headers) => {
      const path = String(headers[":path"]);
      if (path.endsWith("/GetUser")) {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": "7", "grpc-message": "not%20you" },
          { endStream: true },
        );
      } else {
        stream.respond({ ":status": 503 }, { endStream: true });
      }
    });
    const s = session(address);
    const denied = await rejection(call(s, { id: 1 }));
    assert.equal(denied.code, Status.PERMISSION_DENIED);
    assert.equal(denied.details, "not you");
    const busy = await rejection(h2UnaryCall(s, register, { username: "u", password: "p" }, opts()));
    assert.equal(busy.code, Status.UNAVAILABLE);
    assert.match(busy.details, /HTTP status code 503/);
    assert.equal(failedBeforeServer(busy), false, "a 503 came from the server");
  });

  test("deadline: grpc-timeout is sent; at the deadline the stream is cancelled and the call is DEADLINE_EXCEEDED", async () => {
    let timeout = "";
    let cancelled: (v: number) => void = () => {};
    const sawCancel = new Promise<number>((r) => (cancelled = r));
    const address = await rawServer((stream, headers) => {
      timeout = String(headers["grpc-timeout"]);
      stream.on("close", () => cancelled(stream.rstCode ?? -1));
    });
    const s = session(address);
    const t0 = performance.now();
    const err = await rejection(call(s, { id: 1 }, { ms: 300 }));
    const took = performance.now() - t0;
    assert.equal(err.code, Status.DEADLINE_EXCEEDED);
    assert.ok(took >= 250 && took < scaled(3_000), `after ${took} ms`);
    assert.match(timeout, /^\d{1,8}m$/);
    assert.ok(Number(timeout.slice(0, -1)) <= 300 && Number(timeout.slice(0, -1)) > 100, timeout);
    assert.equal(await sawCancel, h2.NGHTTP2_CANCEL, "the server saw RST_STREAM CANCEL");
    assert.equal(grpcTimeout(1.5), "2m");
    assert.equal(grpcTimeout(3 * 1e8), "300000S");
  });

  test("abort: the call rejects with AbortError and the server's call is cancelled", async () => {
    let aborted: () => void = () => {};
    let started: () => void = () => {};
    const serverSawAbort = new Promise<void>((r) => (aborted = r));
    const handlerStarted = new Promise<void>((r) => (started = r));
    const { address } = await grpcServer({
      getUser: (_req, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener("abort", () => aborted());
          started();
        }),
    });
    const s = session(address);
    const ctl = new AbortController();
    const p = call(s, { id: 1 }, { signal: ctl.signal });
    await handlerStarted; // the server is running the call: the abort must reach it
    ctl.abort();
    await assert.rejects(p, (e: Error) => e.name === "AbortError");
    await serverSawAbort;
  });

  test("never sent: refused connection, REFUSED_STREAM, a stream past GOAWAY; a dropped connection is not", async () => {
    // Connection refused: the first call waits on the connecting session, then fails; later ones fail at once.
    const probe = createTcpServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const s1 = session(`127.0.0.1:${closedPort}`);
    const refusedConn = await rejection(call(s1, { id: 1 }));
    assert.equal(refusedConn.code, Status.UNAVAILABLE, refusedConn.message);
    assert.ok(failedBeforeServer(refusedConn), refusedConn.details);
    await waitFor(() => s1.state === connectivityState.TRANSIENT_FAILURE, { timeoutMs: 5_000, message: "TF" });
    const fast = await rejection(call(s1, { id: 1 }));
    assert.ok(failedBeforeServer(fast), fast.details);

    const refusing = session(await rawServer((stream) => stream.close(h2.NGHTTP2_REFUSED_STREAM)));
    const refused = await rejection(call(refusing, { id: 1 }));
    assert.ok(failedBeforeServer(refused), refused.details);

    // A graceful GOAWAY (as a draining server sends) naming the first stream as the last processed
    // one, sent when the second arrives: the first is answered, the second was never served.
    let first: ServerHttp2Stream | undefined;
    const goaway = session(
      await rawServer((stream) => {
        if (!first) {
          first = stream;
          return;
        }
        stream.session?.goaway(h2.NGHTTP2_NO_ERROR, first.id);
        first.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        first.on("wantTrailers", () => first?.sendTrailers({ "grpc-status": "0" }));
        first.end(
          frame(GetUserResponse.encode(GetUserResponse.fromPartial({ user: { id: 1, name: "first" } })).finish()),
        );
      }),
    );
    const served = call(goaway, { id: 1 });
    await waitFor(() => first, { timeoutMs: 5_000, message: "first stream" });
    const gone = await rejection(call(goaway, { id: 2 }));
    assert.equal(gone.code, Status.UNAVAILABLE, gone.message);
    assert.ok(failedBeforeServer(gone), gone.details);
    assert.equal(((await served) as { user: { name: string } }).user.name, "first");

    let received = false;
    const dropping = session(
      await rawServer((stream) =>
        stream.on("data", () => {
          received = true;
          stream.session?.destroy();
        }),
      ),
    );
    const dropped = await rejection(call(dropping, { id: 1 }));
    assert.ok(received);
    assert.equal(dropped.code, Status.UNAVAILABLE, dropped.message);
    assert.equal(failedBeforeServer(dropped), false, dropped.details);
  });

  test("reconnects after the server restarts on the same address", async () => {
    const first = await grpcServer({}, await freePort()); // outside the ephemeral range: free again for the restart
    const s = session(first.address, { "grpc.initial_reconnect_backoff_ms": 50, "grpc.max_reconnect_backoff_ms": 200 });
    assert.ok(await call(s, { id: 1 }));
    assert.equal(s.state, connectivityState.READY);
    first.server.forceShutdown();
    await waitFor(() => s.state === connectivityState.TRANSIENT_FAILURE, { timeoutMs: 5_000, message: "TF" });
    const port = Number(first.address.split(":")[1]);
    await grpcServer({}, port);
    await waitFor(() => s.state === connectivityState.READY, { timeoutMs: 10_000, message: "READY again" });
    assert.ok(await call(s, { id: 2 }));
  });

  test("keepalive: a connection whose peer stops answering pings is dropped while a call waits on it", async () => {
    const { address } = await grpcServer({ getUser: () => new Promise(() => {}) }); // never answers
    // A TCP relay that can go silent (a dead peer with the socket still open).
    let silent = false;
    const relay = createTcpServer((down) => {
      const [host, port] = address.split(":");
      const up = connectTcp(Number(port), host as string);
      down.on("data", (b) => !silent && up.write(b));
      up.on("data", (b) => !silent && down.write(b));
      const end = () => {
        down.destroy();
        up.destroy();
      };
      down.on("error", end).on("close", end);
      up.on("error", end).on("close", end);
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => relay.close(() => r())));
    const s = session(`127.0.0.1:${(relay.address() as AddressInfo).port}`, {
      "grpc.keepalive_time_ms": 200,
      "grpc.keepalive_timeout_ms": 200,
    });
    await h2UnaryCall(s, register, { username: "u", password: "p" }, opts()); // connected through the relay
    silent = true;
    const t0 = performance.now();
    const err = await rejection(call(s, { id: 1 }, { ms: 10_000 }));
    assert.equal(err.code, Status.UNAVAILABLE, err.message);
    assert.match(err.details, /keepalive/);
    assert.equal(failedBeforeServer(err), false, "the request had been sent");
    assert.ok(performance.now() - t0 < 5_000, "dropped by keepalive, long before the deadline");
  });

  test("MessageReader: a message split anywhere across chunks, and its prefix split too", () => {
    const body = Buffer.from("hello, world");
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]);
    for (let cut1 = 1; cut1 < framed.length; cut1++) {
      for (const cut2 of [cut1 + 1, framed.length]) {
        const r = new MessageReader(100);
        for (const part of [framed.subarray(0, cut1), framed.subarray(cut1, cut2), framed.subarray(cut2)]) {
          if (part.length > 0) assert.equal(r.push(part), undefined);
        }
        assert.equal(r.message?.toString(), "hello, world", `cuts ${cut1},${cut2}`);
      }
    }
    const two = new MessageReader(100);
    assert.deepEqual(two.push(Buffer.concat([framed, framed])), [Status.UNIMPLEMENTED, "Too many responses received"]);
    assert.equal(new MessageReader(4).push(framed.subarray(0, 6))?.[0], Status.RESOURCE_EXHAUSTED);
  });
});

/** A failure with google.rpc details, as dzug's services send them (platform/errors.ts). */
class ServerErrorWithDetails extends RichServerError {
  constructor() {
    super(Status.FAILED_PRECONDITION, "with details", [
      ErrorInfo.fromPartial({ reason: "TEST_REASON", domain: "test" }),
    ]);
  }
}
