// Preload for a gateway variant (`node --import ./bench/lib/no-stack.ts gateway/main.ts`): sets
// Error.stackTraceLimit to 0, so `new Error()` captures no frames. grpc-js' Client.makeUnaryRequest
// makes one `new Error()` per call (to append the caller's stack to a failed call's error); this variant
// shows what that capture costs. Not a product setting: it also strips every other stack trace.
Error.stackTraceLimit = 0;
