// How the balanced client's flat path (tracing off) reaches an instance: grpc-js' client over the
// pool's channel, or node:http2 directly with one session per instance (h2-session.ts, h2-call.ts).
// Config key discovery.transport. With tracing on, calls go through nice-grpc and grpc-js either way.
export const transportNames = ["grpc-js", "http2"] as const;
export type TransportName = (typeof transportNames)[number];
// http2 by default: the same behaviour (tests run the client, deadline and failover suites with both)
// at half the client CPU per call; with it the gateway's CPU per request fell below the Express →
// grpc-js anchor's (docs/benchmarks.md, run I).
export const DEFAULT_TRANSPORT: TransportName = "http2";
