// Tracing is configured by the standard OTEL_* variables alone (platform/tracing.ts): a named trace
// exporter turns it on (OTEL_TRACES_EXPORTER=console prints spans, checked in a child process), as does
// an OTLP endpoint; OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none turn it off.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { tracingConfigured } from "../../platform/tracing.ts";

test("which OTEL_* variables turn tracing on", () => {
  assert.equal(tracingConfigured({}), false, "nothing set: off");
  assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: "console" }), true);
  assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: "otlp" }), true);
  assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }), true);
  assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4318/v1/traces" }), true);
  assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://x" }), false);
  assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: "console", OTEL_SDK_DISABLED: "true" }), false);
});

test("OTEL_TRACES_EXPORTER=console prints the spans of a process", () => {
  const script = `
    import { trace } from "@opentelemetry/api";
    import { startTracing } from ${JSON.stringify(join(import.meta.dirname, "../../platform/tracing.ts"))};
    const tracing = startTracing({ service: "probe", version: "0", instance: "probe-1" });
    trace.getTracer("probe").startActiveSpan("console-probe-span", (span) => span.end());
    await tracing.shutdown();
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: join(import.meta.dirname, "../.."),
    env: { PATH: process.env.PATH ?? "", OTEL_TRACES_EXPORTER: "console" },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /console-probe-span/, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
});
