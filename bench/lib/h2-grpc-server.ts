// Cost-floor server for bench/grpc-floor.ts: user.GetUser over raw node:http2 with gRPC's framing
// (5-byte length prefix, protobuf body, grpc-status trailer), the same messages as the bare grpc-js
// server, from memory, without grpc-js. Not a complete gRPC server: unary, uncompressed, one method.
//
//   BENCH_PORT=… BENCH_USERS='[…]' node bench/lib/h2-grpc-server.ts
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { GetUserRequest, GetUserResponse, UserProfile } from "../../proto/gen/dzug/user/v1/user.ts";

const users = new Map<number, UserProfile>(
  (JSON.parse(process.env.BENCH_USERS ?? "[]") as unknown[]).map((j) => {
    const u = UserProfile.fromJSON(j);
    return [u.id, u];
  }),
);
const PATH = "/dzug.user.v1.UserService/GetUser";

/** One length-prefixed gRPC message (uncompressed). */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

const server = createServer();
server.on("stream", (stream, headers) => {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    if (headers[":path"] !== PATH) {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
      return;
    }
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    const req = GetUserRequest.decode(body.subarray(5, 5 + body.readUInt32BE(1)));
    const user = users.get(req.id);
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () =>
      stream.sendTrailers(user ? { "grpc-status": "0" } : { "grpc-status": "5", "grpc-message": "user not found" }),
    );
    stream.end(user ? frame(GetUserResponse.encode({ user }).finish()) : undefined);
  });
});
server.listen(Number(process.env.BENCH_PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  process.exit(0);
});
