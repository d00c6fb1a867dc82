// A Helm release's lifecycle applied to the etcd pods run locally (tests/chart/etcd-pods.ts): the hooks a
// revision carries (picked by their helm.sh/hook annotation) run to completion first, as Helm runs them, then the
// StatefulSet is reconciled the way its controller does: pods beyond the new replica count deleted (their PVCs
// stay), missing pods created at once (podManagementPolicy: Parallel), then every pod whose template changed
// recreated one at a time from the highest ordinal, each waited for (RollingUpdate).
import assert from "node:assert/strict";
import type { RenderedEtcd } from "./etcd-pods.ts";
import { find, type K8sObject, podSpecOf } from "./helpers.ts";

export type HookEvent = "pre-install" | "pre-upgrade" | "pre-rollback" | "test";

/** The objects of a rendered release that run on `event` (helm.sh/hook is a comma-separated list). */
export function hooksOf(objects: K8sObject[], event: HookEvent): K8sObject[] {
  return objects.filter((o) =>
    (o.metadata.annotations?.["helm.sh/hook"] ?? "")
      .split(",")
      .map((h) => h.trim())
      .includes(event),
  );
}

/** Runs each hook Job or Pod of `event` to completion (a failing one fails the release step, as in Helm). */
export async function runHooks(etcd: RenderedEtcd, objects: K8sObject[], event: HookEvent, only?: string[]) {
  const hooks = hooksOf(objects, event).filter((h) => !only || only.includes(h.metadata.name));
  for (const h of hooks) {
    assert.ok(h.kind === "Job" || h.kind === "Pod", `${event} hook ${h.kind}/${h.metadata.name}: no local stand-in`);
    // A Job's pod is retried up to spec.backoffLimit times (Kubernetes' default 6); a bare Pod runs once.
    const attempts = h.kind === "Job" ? (h.spec.backoffLimit ?? 6) + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        await etcd.runToCompletion(h.metadata.name, podSpecOf(h));
        break;
      } catch (err) {
        if (attempt >= attempts) throw err;
      }
    }
  }
  return hooks.map((h) => h.metadata.name);
}

/** `helm upgrade` / `helm rollback` to the revision rendered as `objects`: its hooks, then the StatefulSet. */
export async function applyRevision(etcd: RenderedEtcd, objects: K8sObject[], event: "pre-upgrade" | "pre-rollback") {
  const hooks = await runHooks(etcd, objects, event);
  const sts = find(objects, "StatefulSet", etcd.sts.metadata.name);
  etcd.sts = sts;
  etcd.spec = podSpecOf(sts);
  const replicas = sts.spec.replicas as number;
  for (const pod of etcd.pods.slice(replicas)) await etcd.stopPod(pod);
  const added = [];
  for (let i = etcd.pods.length; i < replicas; i++) added.push(etcd.newPod(i));
  etcd.pods = [...etcd.pods.slice(0, replicas), ...added];
  await Promise.all(added.map((p) => etcd.startPod(p)));
  await etcd.healthyMembers(90_000);
  const template = JSON.stringify(etcd.spec);
  for (const pod of [...etcd.pods].reverse()) {
    if (pod.template === template) continue;
    await etcd.stopPod(pod);
    await etcd.startPod(pod);
    await etcd.healthyMembers(90_000);
  }
  return hooks;
}
