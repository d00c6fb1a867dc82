// Shared by the chart tests: helm from tools/bin (fetched once by scripts/tools/helm.ts), rendering,
// YAML parsing and Kubernetes schema validation of rendered objects.
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { ensureTools, REPO_ROOT } from "../../scripts/tools/helm.ts";

export { REPO_ROOT };
export const CHART = join(REPO_ROOT, "charts", "dzug");
export const RELEASE = "dzug";
export const NAMESPACE = "dzug-test";

const run = promisify(execFile);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  [key: string]: any;
}

let helmPath: string | undefined;
export function helmBin(): string {
  helmPath ??= ensureTools({ quiet: true }).helm;
  return helmPath;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function helm(args: string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(helmBin(), args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(err) };
  }
}

/** The values variants every test renders: the defaults and each charts/dzug/ci/*-values.yaml. */
export function valuesCases(): { name: string; args: string[] }[] {
  const ci = readdirSync(join(CHART, "ci"))
    .filter((f) => f.endsWith("-values.yaml"))
    .sort();
  return [{ name: "default", args: [] }, ...ci.map((f) => ({ name: f, args: ["-f", join(CHART, "ci", f)] }))];
}

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj) out.push(obj);
  }
  return out;
}

/** `helm template` (with hooks, i.e. the helm test pods) parsed into objects. */
export async function render(args: string[] = []): Promise<K8sObject[]> {
  const r = await helm(["template", RELEASE, CHART, "--namespace", NAMESPACE, ...args]);
  if (r.code !== 0) throw new Error(`helm template ${args.join(" ")} failed:\n${r.stderr}`);
  return parseManifests(r.stdout);
}

// apiVersion -> module holding its model classes (kubernetes-models and CRD model packages).
const MODEL_MODULES: Record<string, string> = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "gateway.networking.k8s.io/v1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1",
};

/** Validates one object against its Kubernetes (or CRD) schema; returns problems, empty when valid. */
export async function validateObject(obj: K8sObject): Promise<string[]> {
  const where = `${obj.kind}/${obj.metadata?.name}`;
  const modPath = MODEL_MODULES[obj.apiVersion];
  if (!modPath) return [`${where}: no schema known for apiVersion ${obj.apiVersion}`];
  const mod = (await import(modPath)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = mod[obj.kind];
  if (!Model) return [`${where}: ${obj.apiVersion} has no kind ${obj.kind}`];
  const problems: string[] = [];
  try {
    new Model(obj).validate();
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  for (const p of unknownFields(obj)) problems.push(`${where}: unknown field ${p}`);
  return problems;
}

// kubernetes-models checks types, required fields and enums but lets unknown fields through; these
// allow-lists catch misspelt keys where templates are most intricate (pod and container specs, probes).
const POD_SPEC_KEYS = new Set(
  "activeDeadlineSeconds affinity automountServiceAccountToken containers dnsConfig dnsPolicy enableServiceLinks ephemeralContainers hostAliases hostIPC hostNetwork hostPID hostUsers hostname imagePullSecrets initContainers nodeName nodeSelector os overhead preemptionPolicy priority priorityClassName readinessGates resourceClaims resources restartPolicy runtimeClassName schedulerName schedulingGates securityContext serviceAccount serviceAccountName setHostnameAsFQDN shareProcessNamespace subdomain terminationGracePeriodSeconds tolerations topologySpreadConstraints volumes".split(
    " ",
  ),
);
const CONTAINER_KEYS = new Set(
  "args command env envFrom image imagePullPolicy lifecycle livenessProbe name ports readinessProbe resizePolicy resources restartPolicy securityContext startupProbe stdin stdinOnce terminationMessagePath terminationMessagePolicy tty volumeDevices volumeMounts workingDir".split(
    " ",
  ),
);
const PROBE_KEYS = new Set(
  "exec failureThreshold grpc httpGet initialDelaySeconds periodSeconds successThreshold tcpSocket terminationGracePeriodSeconds timeoutSeconds".split(
    " ",
  ),
);

export function podSpecOf(obj: K8sObject): any {
  if (obj.kind === "Pod") return obj.spec;
  return obj.spec?.template?.spec;
}

function* unknownFields(obj: K8sObject): Generator<string> {
  const pod = podSpecOf(obj);
  if (!pod) return;
  for (const k of Object.keys(pod)) if (!POD_SPEC_KEYS.has(k)) yield `spec.${k}`;
  for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
    for (const k of Object.keys(c)) if (!CONTAINER_KEYS.has(k)) yield `containers[${c.name}].${k}`;
    for (const p of ["livenessProbe", "readinessProbe", "startupProbe"]) {
      for (const k of Object.keys(c[p] ?? {})) if (!PROBE_KEYS.has(k)) yield `containers[${c.name}].${p}.${k}`;
    }
  }
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind}/${name} in the rendered chart`);
  return o;
}

/** The DZUG_* environment variable names listed in docs/architecture.md's configuration table. */
export function documentedEnvNames(doc: string): Set<string> {
  return new Set([...doc.matchAll(/`(DZUG_[A-Z0-9_]+)`/g)].map((m) => m[1] as string));
}

/** Metric names documented in docs/architecture.md's Metrics section. */
export function documentedMetricNames(doc: string): Set<string> {
  const section = doc.split("## Metrics")[1]?.split("\n## ")[0] ?? "";
  return new Set([...section.matchAll(/`(dzug_[a-z0-9_]+)/g)].map((m) => m[1] as string));
}

/** NOTES.txt as `helm install` would print it (that needs a cluster: rendered as a named template in a copy). */
export async function notesFor(args: string[]): Promise<string> {
  const copy = mkdtempSync(join(tmpdir(), "dzug-notes-"));
  try {
    cpSync(CHART, copy, { recursive: true });
    const notes = readFileSync(join(copy, "templates", "NOTES.txt"), "utf8");
    rmSync(join(copy, "templates", "NOTES.txt"));
    writeFileSync(
      join(copy, "templates", "_notes_preview.tpl"),
      `{{- define "notes.preview" -}}\n${notes}\n{{- end -}}\n`,
    );
    writeFileSync(join(copy, "templates", "notes-preview.yaml"), 'notes: {{ include "notes.preview" . | toJson }}\n');
    const r = await helm([
      "template",
      "dzug",
      copy,
      "-n",
      NAMESPACE,
      ...args,
      "--show-only",
      "templates/notes-preview.yaml",
    ]);
    if (r.code !== 0) throw new Error(`NOTES preview ${args.join(" ")} failed:\n${r.stderr}`);
    return (parseManifests(r.stdout)[0] as unknown as { notes: string }).notes;
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** The APIs of the CRD-backed kinds the chart renders (charts/dzug/templates/_crds.tpl), as a cluster lists them. */
export const CRD_APIS = {
  ServiceMonitor: "monitoring.coreos.com/v1/ServiceMonitor",
  PodMonitor: "monitoring.coreos.com/v1/PodMonitor",
  PrometheusRule: "monitoring.coreos.com/v1/PrometheusRule",
  HTTPRoute: "gateway.networking.k8s.io/v1/HTTPRoute",
} as const;

/** `helm template` arguments telling it the cluster serves `apis` (default: all of CRD_APIS). */
export function apiVersionArgs(apis: readonly string[] = Object.values(CRD_APIS)): string[] {
  return apis.flatMap((a) => ["--api-versions", a]);
}
