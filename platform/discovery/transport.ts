// How the balanced client's flat path (tracing off) reaches an instance: grpc-js' client over the
// pool's channel, or node:http2 directly with one session per instance (h2-session.ts, h2-call.ts).
// Config key discovery.transport. With tracing on, calls go through nice-grpc and grpc-js either way.
export const transportNames = ["grpc-js", "http2"] as const;
export type TransportName = (typeof transportNames)[number];
export const DEFAULT_TRANSPORT: TransportName = "grpc-js";
