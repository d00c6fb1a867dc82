// pino JSON logs; every line carries the process identity and, inside a traced call, trace and span ids.
import { trace } from "@opentelemetry/api";
import { type Logger, pino } from "pino";

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
        const ctx = trace.getActiveSpan()?.spanContext();
        return ctx ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
      },
    },
    opts.destination ?? pino.destination({ sync: false }),
  );
}
