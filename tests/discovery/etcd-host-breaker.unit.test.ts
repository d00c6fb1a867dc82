// The per-host breaker given to etcd3 (platform/discovery/registry/etcd-options.ts): while its half-open trial
// runs, a call on the same host fails at once instead of waiting for the trial. etcd3 retries a call
// that met "invalid auth token" from inside that call's breaker slot; with cockatiel's own breaker a
// retry drawn to the same host waited for the trial, i.e. for itself, forever.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isBrokenCircuitError } from "cockatiel";
import { GRPCUnavailableError } from "etcd3";
import { failFastHostBreaker } from "../../platform/discovery/registry/etcd-options.ts";
import { waitFor } from "../harness/wait.ts";

test("a call made from inside the half-open trial fails fast instead of waiting for itself", async () => {
  const breaker = failFastHostBreaker(50);
  for (let i = 0; i < 3; i++) {
    await assert.rejects(
      breaker.execute(async () => {
        throw new GRPCUnavailableError("down");
      }),
    );
  }
  await assert.rejects(
    breaker.execute(async () => "open"),
    (err) => isBrokenCircuitError(err),
  );
  // After halfOpenAfter the next call is the trial; the retry it makes on the same host must settle.
  const trial = await waitFor(
    () =>
      breaker
        .execute(async () => {
          await new Promise((resolve) => setImmediate(resolve)); // etcd3 retries after the failed call's await
          const inner = await breaker
            .execute(async () => "same host")
            .then(
              () => "ran",
              (err: Error) => (isBrokenCircuitError(err) ? "refused at once" : err.message),
            );
          return `trial done; inner call ${inner}`;
        })
        .catch(() => undefined),
    { timeoutMs: 5_000, message: "the half-open trial" },
  );
  assert.equal(trial, "trial done; inner call refused at once");
  assert.equal(await breaker.execute(async () => "closed again"), "closed again");
});
