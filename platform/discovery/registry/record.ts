// The etcd registration record (docs/architecture.md): key `<prefix>/<service>/<id>`, JSON value.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { z } from "zod";
import { addressProblem } from "./address.ts";

export interface InstanceRecord {
  id: string;
  service: string;
  address: string;
  version: string;
  weight: number;
  zone: string;
  startedAt: string;
}

export const instanceRecordSchema: z.ZodType<InstanceRecord> = z.object({
  id: z.string().min(1),
  service: z.string().min(1),
  // address.ts: an IP literal (IPv6 bracketed) or DNS name, port 1-65535; link-local refused.
  address: z.string().superRefine((a, ctx) => {
    const problem = addressProblem(a);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  version: z.string(),
  weight: z.number().int().min(1).max(10_000),
  zone: z.string(),
  startedAt: z.string(),
});

function trimSlash(prefix: string): string {
  return prefix.replace(/\/+$/, "");
}

export function instanceKey(prefix: string, service: string, id: string): string {
  return `${trimSlash(prefix)}/${service}/${id}`;
}

/** The key prefix under which all instances of `service` live (with the trailing slash). */
export function serviceDir(prefix: string, service: string): string {
  return `${trimSlash(prefix)}/${service}/`;
}

export function newInstanceId(service: string): string {
  return `${service}-${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
}

export function encodeRecord(record: InstanceRecord): string {
  return JSON.stringify(instanceRecordSchema.parse(record));
}

/** A record is ~200 bytes; a value past this is refused before parsing (anyone may write the prefix). */
export const MAX_RECORD_BYTES = 4096;

export type DecodeResult = { ok: true; record: InstanceRecord } | { ok: false; reason: string };

/** Parses and validates one value found at `key` under `<prefix>/<service>/`. */
export function decodeRecord(service: string, key: string, value: string): DecodeResult {
  if (value.length > MAX_RECORD_BYTES) return { ok: false, reason: `value over ${MAX_RECORD_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { ok: false, reason: "value is not JSON" };
  }
  const parsed = instanceRecordSchema.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      reason: `schema: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`,
    };
  const segments = key.split("/");
  const id = segments[segments.length - 1];
  const svc = segments[segments.length - 2];
  if (parsed.data.id !== id) return { ok: false, reason: `id ${parsed.data.id} does not match key` };
  if (parsed.data.service !== svc || svc !== service)
    return { ok: false, reason: `service ${parsed.data.service} does not match key` };
  return { ok: true, record: parsed.data };
}
