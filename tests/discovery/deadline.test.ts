// Deadlines end to end over real etcd and real gRPC servers: the deadline a caller sets reaches the
// server as grpc-timeout (minus the time already spent), travels on to the next hop, cannot be forged
// through metadata, and a server's call is cancelled (its signal aborts) when the deadline passes;
// with each transport (discovery.transport: grpc-js, http2).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { ClientError, createChannel, createClient, Metadata, type ServerMiddleware, Status } from "nice-grpc";
import { currentDeadline, DEADLINE_METADATA } from "../../platform/deadline.ts";
import { Discovery, Registrar, type TransportName, transportNames } from "../../platform/discovery/index.ts";
import { createServiceServer } from "../../platform/grpc-server.ts";
import { serverCalls } from "../../platform/server-call.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { scaled, waitFor } from "../harness/wait.ts";
import { captureLogger, echoImpl, newRegistry, record, useEtcd } from "./helpers.ts";

const fx = useEtcd();
const cleanups = fx.cleanups;

/** With tracing on, platform/service.ts serves every call through nice-grpc and an extra middleware. */
const passThrough: ServerMiddleware = async function* (call, context) {
  return yield* call.next(call.request, context);
};

type Kind = "flat" | "nice";

/**
 * A server as platform/service.ts builds it (`flat`: tracing off, unary calls on grpc-js directly;
 * `nice`: tracing on, through nice-grpc); `getUser` runs `onGetUser`.
 */
async function startServer(kind: Kind, id: string, onGetUser: (signal: AbortSignal) => Promise<void>) {
  const server = createServiceServer({
    ...serverCalls({ registry: newRegistry(), service: id, logger: captureLogger().logger }),
    tracing: kind === "nice" ? passThrough : undefined,
  });
  const echo = echoImpl(id);
  server.add(UserServiceDefinition, {
    ...echo,
    async getUser(req, ctx) {
      await onGetUser(ctx.signal);
      return echo.getUser(req, ctx);
    },
  });
  const port = await server.listen("127.0.0.1:0");
  cleanups.push(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

async function discoveryOf(
  prefix: string,
  transport: TransportName,
  instances: Array<[service: string, address: string]>,
) {
  const logger = captureLogger().logger;
  for (const [service, address] of instances) {
    const r = new Registrar({
      etcd: fx.client,
      prefix,
      record: record(service, `${service}-1`, address),
      ttlSeconds: 10,
      logger,
      metrics: newRegistry(),
    });
    cleanups.push(() => r.stop());
    await r.start();
  }
  const discovery = new Discovery({ etcd: fx.client, prefix, logger, metrics: newRegistry(), transport });
  cleanups.push(() => discovery.close());
  for (const [service] of instances) {
    await discovery.watch(service).start();
    await waitFor(() => discovery.watch(service).instances().length === 1, { timeoutMs: 5_000, message: service });
  }
  return discovery;
}

for (const transport of transportNames)
  for (const kind of ["flat", "nice"] as const)
    describe(`deadlines end to end (${transport}, ${kind} server)`, () => {
      test("front → back: each server sees the caller's deadline minus elapsed time; a number is relative", async () => {
        const prefix = `/t-${randomBytes(3).toString("hex")}`;
        const seen: Record<string, number | undefined> = {};
        // When each handler ran and when front called back: a deadline arrives later by the time the
        // call took to get there, which a busy machine stretches.
        const at: Record<string, number> = {};
        const backAddress = await startServer(kind, "back", async () => {
          seen.back = currentDeadline();
          at.back = Date.now();
        });
        let discovery: Discovery | undefined;
        const frontAddress = await startServer(kind, "front", async () => {
          seen.front = currentDeadline();
          at.front = Date.now();
          await new Promise((r) => setTimeout(r, 100)); // time spent before the next hop
          // No deadline given: the call inherits what is left of the one being served.
          at.toBack = Date.now();
          await discovery?.client("back", UserServiceDefinition).getUser({ id: 1 });
        });
        discovery = await discoveryOf(prefix, transport, [
          ["front", frontAddress],
          ["back", backAddress],
        ]);
        const front = discovery.client("front", UserServiceDefinition, { deadlineMs: 30_000 });

        /** `got` is `want` (epoch ms) made later by at most the call's way from `sentAfter` to `arrivedBy`. */
        const arrived = (got: number | undefined, want: number, sentAfter: number, arrivedBy: number, what: string) => {
          assert.ok(got !== undefined, `${what}: no deadline`);
          // grpc-timeout is relative and rounded up: receive time + what was left when sent.
          assert.ok(
            got >= want - 1 && got <= want + (arrivedBy - sentAfter) + 1,
            `${what} saw ${got - want} ms after the ${want - sentAfter} ms deadline (way: ${arrivedBy - sentAfter} ms)`,
          );
        };
        const startedAt = Date.now();
        await front.getUser({ id: 1 }, { deadline: 2_000 });
        arrived(seen.front, startedAt + 2_000, startedAt, at.front as number, "front");
        // Inherited, not a fresh default: what was left of front's deadline.
        arrived(seen.back, seen.front as number, at.toBack as number, at.back as number, "back");

        // A Date deadline is absolute.
        const sentAt = Date.now();
        const dateDeadline = new Date(sentAt + 1_500);
        await front.getUser({ id: 1 }, { deadline: dateDeadline });
        arrived(seen.front, dateDeadline.getTime(), sentAt, at.front as number, "front (Date deadline)");
      });

      test("the deadline cannot be forged through metadata; a call past its deadline is cancelled on the server", async () => {
        const prefix = `/t-${randomBytes(3).toString("hex")}`;
        let seen: number | undefined = -1;
        let cancelled: Promise<boolean> | undefined;
        const address = await startServer(kind, "slow", async (signal) => {
          seen = currentDeadline();
          if (seen === undefined) return;
          cancelled = new Promise((resolve) => {
            const t = setTimeout(() => resolve(false), 5_000);
            signal.addEventListener("abort", () => {
              clearTimeout(t);
              resolve(true);
            });
          });
          await cancelled;
        });
        // A plain client without a deadline, sending the internal entry itself: the server ignores it.
        const channel = createChannel(address);
        cleanups.push(() => channel.close());
        await createClient(UserServiceDefinition, channel).getUser(
          { id: 1 },
          { metadata: Metadata({ [DEADLINE_METADATA]: "1" }) },
        );
        assert.equal(seen, undefined);

        const discovery = await discoveryOf(prefix, transport, [["slow", address]]);
        const slow = discovery.client("slow", UserServiceDefinition);
        const t0 = performance.now();
        await assert.rejects(slow.getUser({ id: 1 }, { deadline: 300 }), (err: unknown) => {
          return err instanceof ClientError && err.code === Status.DEADLINE_EXCEEDED;
        });
        assert.ok(performance.now() - t0 < scaled(2_000), "the caller got DEADLINE_EXCEEDED at its deadline");
        assert.equal(await cancelled, true, "the server's call signal aborted at the deadline");
      });
    });
