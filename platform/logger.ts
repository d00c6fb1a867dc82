// pino JSON logs; every line carries the process identity and, while serving a call, its request id
// and (when traced) trace and span ids.
import { trace } from "@opentelemetry/api";
import { type Logger, pino } from "pino";
import { currentRequestId } from "./request-context.ts";

export type { Logger } from "pino";

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
      formatters: { level: (label) => ({ level: label }) },
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
