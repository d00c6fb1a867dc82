// Pins the grpc-js status details the balanced client reads to tell "never reached a server" (retry
// anywhere) from "may have run" (retry only idempotent methods) to the grpc-js in the lock file, by
// provoking each case for real: refused connection, HTTP/2 REFUSED_STREAM, closed channel, and a
// connection dropped after the request was sent.
import assert from "node:assert/strict";
import { createServer as createHttp2Server, constants as h2 } from "node:http2";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer } from "node:net";
import { test } from "node:test";
import { ClientError, createChannel, createClient, Status } from "nice-grpc";
import { failedBeforeServer, NOT_SENT_DETAILS } from "../../platform/discovery/call-rules.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";

/** One GetUser call to `address` that must fail (the channel closed once `closeWhen` resolves); its ClientError. */
async function failedCall(address: string, closeWhen?: Promise<unknown>): Promise<ClientError> {
  const channel = createChannel(address);
  const client = createClient(UserServiceDefinition, channel);
  try {
    const call = client.getUser({ id: 1 });
    closeWhen?.then(() => channel.close());
    await call;
  } catch (err) {
    assert.ok(err instanceof ClientError, String(err));
    return err;
  } finally {
    channel.close();
  }
  assert.fail("the call succeeded");
}

async function freeClosedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An HTTP/2 server that answers every stream with `onStream` (a stand-in for a misbehaving peer). */
async function h2Server(onStream: (stream: import("node:http2").ServerHttp2Stream) => void) {
  const server = createHttp2Server();
  server.on("stream", onStream);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test("the details grpc-js gives for calls that never reached a server are the ones NOT_SENT_DETAILS lists", {
  timeout: 30_000,
}, async () => {
  const seen = new Set<string>();
  const never = async (err: ClientError) => {
    assert.equal(err.code, Status.UNAVAILABLE, err.message);
    assert.ok(failedBeforeServer(err), `not classified as never sent: ${err.details}`);
    for (const d of NOT_SENT_DETAILS) if (err.details.includes(d)) seen.add(d);
  };

  // Connection refused: the pick fails, nothing was sent.
  await never(await failedCall(`127.0.0.1:${await freeClosedPort()}`));

  // HTTP/2 REFUSED_STREAM (as a server does for streams past its GOAWAY): the server did not process it.
  const refusing = await h2Server((stream) => {
    stream.on("error", () => {}); // the refusal is reported on our side too
    stream.close(h2.NGHTTP2_REFUSED_STREAM);
  });
  try {
    await never(await failedCall(refusing.address));
  } finally {
    await refusing.close();
  }

  // A call queued while the channel connects (the peer accepts TCP but never speaks HTTP/2), then the
  // channel is closed: the call never started.
  const sockets = new Set<import("node:net").Socket>();
  const { promise: connected, resolve: onConnect } = Promise.withResolvers<void>();
  const silent = createTcpServer((socket) => {
    sockets.add(socket);
    onConnect();
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  try {
    await never(await failedCall(`127.0.0.1:${(silent.address() as AddressInfo).port}`, connected));
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }

  assert.deepEqual([...seen].sort(), [...NOT_SENT_DETAILS].sort(), "every listed detail was provoked");
});

test("a connection dropped after the request was sent is not classified as never sent", {
  timeout: 30_000,
}, async () => {
  let received = false;
  const dropping = await h2Server((stream) => {
    stream.on("data", () => {
      received = true;
      stream.session?.destroy();
    });
  });
  try {
    const err = await failedCall(dropping.address);
    assert.ok(received, "the server received the request");
    assert.equal(err.code, Status.UNAVAILABLE, err.message);
    assert.equal(failedBeforeServer(err), false, err.details);
  } finally {
    await dropping.close();
  }
});
