// Raw @grpc/grpc-js method descriptors from the repo's ts-proto definitions, for the benchmark's
// anchors: the same protobuf messages and method paths as dzug, without nice-grpc or any middleware.
import type { MethodDefinition } from "@grpc/grpc-js";

interface MessageFns<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}
interface TsProtoMethod {
  name: string;
  requestType: MessageFns<any>;
  responseType: MessageFns<any>;
}

const toBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** grpc-js' descriptor of one unary method of a ts-proto service definition. */
export function rawMethod(
  definition: { fullName: string; methods: Record<string, TsProtoMethod> },
  key: string,
): MethodDefinition<any, any> {
  const m = definition.methods[key];
  if (!m) throw new Error(`${definition.fullName} has no method ${key}`);
  return {
    path: `/${definition.fullName}/${m.name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v) => toBuffer(m.requestType.encode(v).finish()),
    requestDeserialize: (b: Buffer) => m.requestType.decode(b),
    responseSerialize: (v) => toBuffer(m.responseType.encode(v).finish()),
    responseDeserialize: (b: Buffer) => m.responseType.decode(b),
  };
}
