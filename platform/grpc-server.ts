// A service's gRPC server. Unary methods (every dzug RPC, health Check) are served on grpc-js directly:
// one handler per call runs platform/server-call.ts' unary path with a call context built lazily, where
// nice-grpc's server made per call an AbortController, three Metadata, three event listeners, the
// metadata converted to its own type, the peer string and two async generators (docs/profiling.md).
// The caller's deadline is read from the call (grpc-js parsed grpc-timeout), so no interceptor.
// Server-streaming methods (health Watch) go through nice-grpc's own handler with the same middleware.
// With tracing on, the whole server is nice-grpc's with the OpenTelemetry middleware, as before.
//
// Observable behaviour is nice-grpc's: the context (metadata, peer, header, sendHeader, trailer,
// signal aborting when the caller cancels while the handler runs), ServerError → its code and
// details, an AbortError → CANCELLED, anything else → UNKNOWN with a process warning, trailers sent.
import { createRequire } from "node:module";
import {
  type Metadata as GrpcMetadata,
  Server as GrpcServer,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import {
  type CallContext,
  type CompatServiceDefinition,
  createServer,
  Metadata,
  type ServerMiddleware,
  type ServiceImplementation,
} from "nice-grpc";
import { deadlineServerInterceptor } from "./deadline.ts";
import { REQUEST_ID_HEADER } from "./request-context.ts";
import type { ServeUnary } from "./server-call.ts";

export interface GrpcServiceServer {
  add<Service extends CompatServiceDefinition>(
    definition: Service,
    implementation: ServiceImplementation<Service>,
  ): void;
  /** Binds `host:port` (port 0: any free one) and resolves to the port. */
  listen(address: string): Promise<number>;
  /** Stops accepting calls and waits for those in flight. */
  shutdown(): Promise<void>;
  forceShutdown(): void;
}

const require = createRequire(import.meta.url);
// nice-grpc internals (in its lib, not re-exported from its index; pinned by package-lock.json).
const { normalizeServiceDefinition, toGrpcJsServiceDefinition } = require("nice-grpc/lib/service-definitions/index.js");
const { createServerStreamingMethodHandler } = require("nice-grpc/lib/server/handleServerStreamingCall.js");
const { createErrorStatusObject } = require("nice-grpc/lib/server/createErrorStatusObject.js");
const { convertMetadataFromGrpcJs, convertMetadataToGrpcJs } = require("nice-grpc/lib/utils/convertMetadata.js");

/**
 * `tracing`: the OpenTelemetry server middleware, when tracing is on (then nice-grpc serves every call);
 * `unary` and `middleware`: platform/server-call.ts' serverCalls().
 */
export function createServiceServer(o: {
  unary: ServeUnary;
  middleware: ServerMiddleware;
  tracing?: ServerMiddleware;
}): GrpcServiceServer {
  if (o.tracing) {
    return createServer({ interceptors: [deadlineServerInterceptor] })
      .use(o.tracing)
      .use(o.middleware);
  }
  const grpc = new GrpcServer();
  return {
    add(definition, implementation) {
      const methods = normalizeServiceDefinition(definition) as Record<string, MethodInfo>;
      const handlers: UntypedServiceImplementation = {};
      for (const [name, method] of Object.entries(methods)) {
        const impl = (implementation as Record<string, (...args: unknown[]) => unknown>)[name]?.bind(implementation);
        if (!impl) throw new Error(`${method.path}: no implementation`);
        if (!method.requestStream && !method.responseStream) handlers[name] = unaryHandler(method.path, impl, o.unary);
        else if (!method.requestStream) handlers[name] = createServerStreamingMethodHandler(method, impl, o.middleware);
        else throw new Error(`${method.path}: client-streaming methods are not supported`);
      }
      grpc.addService(toGrpcJsServiceDefinition(methods), handlers);
    },
    listen: (address) =>
      new Promise((resolve, reject) => {
        grpc.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
      }),
    shutdown: () => new Promise((resolve, reject) => grpc.tryShutdown((err) => (err ? reject(err) : resolve()))),
    forceShutdown: () => grpc.forceShutdown(),
  };
}

interface MethodInfo {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

function unaryHandler(path: string, impl: (request: unknown, context: CallContext) => unknown, serve: ServeUnary) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const context = new UnaryCallContext(call);
    const header = call.metadata.get(REQUEST_ID_HEADER)[0];
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    const info = {
      requestId: typeof header === "string" && header !== "" ? header : undefined,
      deadline: Number.isFinite(at) ? at : undefined,
    };
    serve(path, info, context, async () => {
      const response = await impl(call.request, context);
      if (response == null) throw new Error("the handler returned void, but a unary method must return a message");
      return response;
    }).then(
      (response) => {
        context.finish();
        callback(null, response, context.grpcTrailer());
      },
      (err: unknown) => {
        context.finish();
        callback(createErrorStatusObject(path, err, context.grpcTrailer() ?? emptyMetadata()));
      },
    );
  };
}

const emptyMetadata = (): GrpcMetadata => convertMetadataToGrpcJs(Metadata());

/** nice-grpc's CallContext for one unary call; each part is made when first used. */
class UnaryCallContext implements CallContext {
  readonly #call: ServerUnaryCall<unknown, unknown>;
  #metadata: Metadata | undefined;
  #header: Metadata | undefined;
  #trailer: Metadata | undefined;
  #abort: AbortController | undefined;
  #headerSent = false;
  #finished = false;

  constructor(call: ServerUnaryCall<unknown, unknown>) {
    this.#call = call;
  }

  get metadata(): Metadata {
    this.#metadata ??= convertMetadataFromGrpcJs(this.#call.metadata) as Metadata;
    return this.#metadata;
  }

  get peer(): string {
    return this.#call.getPeer();
  }

  get header(): Metadata {
    this.#header ??= Metadata();
    return this.#header;
  }

  get trailer(): Metadata {
    this.#trailer ??= Metadata();
    return this.#trailer;
  }

  /** Aborts when the caller cancels (or its deadline passes) while the handler runs. */
  get signal(): AbortSignal {
    if (!this.#abort) {
      const ctl = new AbortController();
      this.#abort = ctl;
      if (this.#call.cancelled) ctl.abort();
      else if (!this.#finished)
        this.#call.once("cancelled", () => {
          if (!this.#finished) ctl.abort();
        });
    }
    return this.#abort.signal;
  }

  sendHeader(): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    if (this.#header && !isEmpty(this.#header)) this.#call.sendMetadata(convertMetadataToGrpcJs(this.#header));
  }

  /** The handler is done: its signal no longer aborts; the header goes out if not yet sent. */
  finish(): void {
    this.#finished = true;
    this.sendHeader();
  }

  grpcTrailer(): GrpcMetadata | undefined {
    return this.#trailer ? convertMetadataToGrpcJs(this.#trailer) : undefined;
  }
}

function isEmpty(metadata: Metadata): boolean {
  for (const _ of metadata) return false;
  return true;
}
