// The etcd Secret's keys are derived, never listed by hand: one `<account>-password` per account of
// platform/etcd-admin/accounts.ts (root, each service of the chart's service list, each reader), generated into
// templates/_services.tpl. The generated Secret, the accounts the auth keeper is told to create, NOTES, the
// values.yaml comment and docs/kubernetes.md all name exactly those keys; an existingSecret lacking one fails the
// install with the key named (the lookup check, run here in a chart copy whose lookup answers a given Secret).
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { accountNames, passwordKey, READERS } from "../../platform/etcd-admin/accounts.ts";
import { localServices } from "../../scripts/lib/services.ts";
import { CHART, find, helm, NAMESPACE, notesFor, podSpecOf, REPO_ROOT, render } from "./helpers.ts";
import { LocalProcess, localCommand, prepareVolumes } from "./local-pod.ts";

const SERVICE_NAMES = (await localServices()).map((s) => s.name).sort();
const KEYS = accountNames(SERVICE_NAMES).map(passwordKey);

/** Keys named in `text` (`<name>-password` tokens). */
function keysIn(text: string): string[] {
  return [...new Set([...text.matchAll(/\b([a-z][a-z0-9-]*-password)\b/g)].map((m) => m[1] as string))].sort();
}

/** `helm template` of a chart copy whose validate.yaml lookup of the existing etcd Secret finds `data`. */
async function renderWithExistingSecret(data: Record<string, string>) {
  const copy = mkdtempSync(join(tmpdir(), "dzug-lookup-"));
  try {
    cpSync(CHART, copy, { recursive: true });
    const path = join(copy, "templates", "validate.yaml");
    const lookup = 'lookup "v1" "Secret" .Release.Namespace $etcd.auth.existingSecret';
    const text = readFileSync(path, "utf8");
    assert.ok(text.includes(lookup), "validate.yaml looks the existing etcd Secret up");
    const literal = `(dict "data" (dict ${Object.keys(data)
      .map((k) => `"${k}" "${Buffer.from(data[k] as string).toString("base64")}"`)
      .join(" ")}))`;
    writeFileSync(path, text.replace(lookup, literal));
    return await helm(["template", "dzug", copy, "-n", NAMESPACE, "--set", "etcd.auth.existingSecret=gitops-etcd"]);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

describe("etcd Secret keys, derived from the account list", () => {
  test("the generated Secret and the auth keeper's accounts are every service plus the readers, root first", async () => {
    assert.deepEqual(KEYS.slice(0, 1), ["root-password"]);
    assert.ok(KEYS.includes("message-password"), "every service has an account, message included");
    const objs = await render();
    assert.deepEqual(Object.keys(find(objs, "Secret", "dzug-etcd").data).sort(), [...KEYS].sort());
    const sts = podSpecOf(find(objs, "StatefulSet", "dzug-etcd"));
    for (const c of [sts.initContainers[0], sts.containers.find((x: any) => x.name === "auth")]) {
      const env = new Map(c.env.map((e: any) => [e.name, e.value]));
      assert.equal(env.get("DZUG_ACCOUNTS_SERVICES"), SERVICE_NAMES.join(","), c.name);
      assert.equal(env.get("DZUG_ACCOUNTS_READERS"), READERS.join(","), c.name);
      assert.ok(
        c.volumeMounts.some((m: any) => m.name === "accounts"),
        `${c.name} mounts the Secret`,
      );
    }
  });

  test("values.yaml, docs/kubernetes.md and NOTES name exactly those keys", async () => {
    const values = readFileSync(join(CHART, "values.yaml"), "utf8");
    const comment = values.slice(
      values.indexOf("  auth:\n    # -- Client auth"),
      values.indexOf("    existingSecret:"),
    );
    assert.deepEqual(keysIn(comment), [...KEYS].sort(), "values.yaml etcd.auth.existingSecret comment");
    const docs = readFileSync(join(REPO_ROOT, "docs", "kubernetes.md"), "utf8");
    const para = docs.slice(docs.indexOf("Its keys are one `<account>-password`"), docs.indexOf("derived, never kept"));
    assert.deepEqual(keysIn(para), [...KEYS].sort(), "docs/kubernetes.md security model");
    for (const args of [[], ["--set", "etcd.auth.existingSecret=gitops-etcd"]]) {
      const notes = await notesFor(args);
      assert.deepEqual(
        keysIn(notes.slice(notes.indexOf("etcd client auth"))),
        [...KEYS].sort(),
        `NOTES ${args.join(" ")}`,
      );
    }
    assert.match(
      await notesFor(["--set", "etcd.auth.existingSecret=gitops-etcd"]),
      /Secret gitops-etcd, which must hold/,
    );
  });

  test("an existingSecret lacking a key fails the install naming it; a complete one renders", async () => {
    const full = Object.fromEntries(KEYS.map((k) => [k, "a-password-of-24-chars!!"]));
    const { "message-password": _, ...lacking } = full;
    const bad = await renderWithExistingSecret(lacking);
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /etcd\.auth\.existingSecret gitops-etcd lacks key\(s\) message-password \(it needs root-password, /,
    );
    const good = await renderWithExistingSecret(full);
    assert.equal(good.code, 0, good.stderr);
  });

  test("under helm template, member-init stops a member whose existingSecret lacks a key, naming it", async () => {
    const sts = find(await render(["--set", "etcd.auth.existingSecret=gitops-etcd"]), "StatefulSet", "dzug-etcd");
    const spec = podSpecOf(sts);
    const dir = mkdtempSync(join(tmpdir(), "dzug-member-init-"));
    try {
      const full = Object.fromEntries(KEYS.map((k) => [k, "a-password-of-24-chars!!"]));
      const { "message-password": _, ...lacking } = full;
      const map = {
        podName: "dzug-etcd-0",
        podIp: "127.0.0.1",
        hosts: {},
        secrets: { "gitops-etcd": lacking },
        volumesDir: dir,
        commands: { node: process.execPath },
        baseEnv: { PATH: process.env.PATH ?? "", NODE_ENV: "production" },
      };
      prepareVolumes(spec, sts.spec.volumeClaimTemplates, map);
      const init = new LocalProcess("member-init", localCommand(spec, spec.initContainers[0], map));
      await assert.rejects(init.completed(30_000), /lacks key\(s\) message-password \(it needs root-password, /);
      assert.equal(spec.initContainers[0].terminationMessagePolicy, "FallbackToLogsOnError");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
