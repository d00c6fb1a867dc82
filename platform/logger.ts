// pino JSON logs; every line carries the process identity and, while serving a call, its request id
// and (when traced) trace and span ids. Credentials never reach a log line: fields named `password`,
// `token` or `authorization` (at any of the first levels, and a body a parser attached to an error)
// are censored by pino's redaction, and `token=` / `password=` query parameters and `Bearer` values
// inside any logged string (a URL, an error message or stack) are replaced (scrubSecrets).
import { trace } from "@opentelemetry/api";
import { type Logger, pino } from "pino";
import { currentRequestId } from "./request-context.ts";

export type { Logger } from "pino";

const CENSOR = "[redacted]";

/** Fields censored wherever a log line carries them (pino redact paths; `*` is one level). */
export const REDACTED_PATHS = [
  "password",
  "token",
  "authorization",
  "*.password",
  "*.token",
  "*.authorization",
  "*.*.password",
  "*.*.token",
  "*.*.authorization",
  "err.body",
  "*.headers.cookie",
  "*.headers.authorization",
];

const SECRET_IN_TEXT = /(\b(?:token|password)"?\s*[:=]\s*"?)[^"&#\s,;}']*|(bearer[ \t]+)[^\s"',]+/gi;

/** `s` with the values of token/password parameters (`token=…`, `"password":"…"`) and Bearer credentials replaced. */
export function scrubSecrets(s: string): string {
  return s.replace(
    SECRET_IN_TEXT,
    (_m, param: string | undefined, bearer: string | undefined) => `${param ?? bearer}${CENSOR}`,
  );
}

/** Scrubs the strings of a log object's own fields (one level; nested objects are redacted by path). */
function scrubFields(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== "string") continue;
    const clean = scrubSecrets(v);
    if (clean === v) continue;
    if (out === obj) out = { ...obj };
    out[k] = clean;
  }
  return out;
}

export interface LoggerOptions {
  level: string;
  service: string;
  instance: string;
  /** Where to write (tests); defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: opts.service, instance: opts.instance },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: scrubFields },
      redact: { paths: REDACTED_PATHS, censor: CENSOR },
      hooks: {
        // The message (and format arguments) too.
        logMethod(args, method) {
          const clean = args.map((a: unknown) => (typeof a === "string" ? scrubSecrets(a) : a));
          method.apply(this, clean as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (err: Error) => scrubFields(pino.stdSerializers.err(err) as unknown as Record<string, unknown>),
      },
      mixin() {
        const out: Record<string, string> = {};
        const reqId = currentRequestId();
        if (reqId !== undefined) out.req_id = reqId;
        const ctx = trace.getActiveSpan()?.spanContext();
        if (ctx) {
          out.trace_id = ctx.traceId;
          out.span_id = ctx.spanId;
        }
        return out;
      },
    },
    opts.destination ?? pino.destination({ sync: false }),
  );
}
