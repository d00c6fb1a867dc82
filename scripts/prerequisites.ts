// System programs the local system and the tests need, with the one-line fix when one is missing.
// `ensurePrerequisites({ install: true })` installs Debian packages when running as root with apt-get.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

export interface Prerequisite {
  name: string;
  /** Debian package that provides it. */
  aptPackage: string;
  present: () => boolean;
}

const onPath = (cmd: string) => () => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;

function postgresPresent(): boolean {
  if (!existsSync("/usr/lib/postgresql")) return onPath("pg_ctl")() && onPath("initdb")();
  return readdirSync("/usr/lib/postgresql").some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
}

export const ETCD: Prerequisite = { name: "etcd", aptPackage: "etcd-server", present: onPath("etcd") };
export const POSTGRES: Prerequisite = { name: "PostgreSQL server", aptPackage: "postgresql", present: postgresPresent };
export const PROMETHEUS: Prerequisite = { name: "prometheus", aptPackage: "prometheus", present: onPath("prometheus") };
export const BUILDAH: Prerequisite = { name: "buildah", aptPackage: "buildah", present: onPath("buildah") };
export const DEBOOTSTRAP: Prerequisite = {
  name: "debootstrap",
  aptPackage: "debootstrap",
  present: onPath("debootstrap"),
};
export const WRK: Prerequisite = { name: "wrk", aptPackage: "wrk", present: onPath("wrk") };
/** Instruction counts of `npm run bench:instructions` (callgrind); no test needs it. */
export const VALGRIND: Prerequisite = {
  name: "valgrind",
  aptPackage: "valgrind",
  present: () => onPath("valgrind")() && onPath("callgrind_control")(),
};
/** The reverse proxy standing in for an ingress controller (tests/harness/nginx.ts). */
export const NGINX: Prerequisite = {
  name: "nginx",
  aptPackage: "nginx",
  present: () => existsSync("/usr/sbin/nginx") || onPath("nginx")(),
};

/** Test certificates (tests/harness/tls.ts). */
export const OPENSSL: Prerequisite = { name: "openssl", aptPackage: "openssl", present: onPath("openssl") };

/** Returns the messages of what is still missing (empty when all is there). */
export function ensurePrerequisites(list: Prerequisite[], opts: { install: boolean }): string[] {
  let missing = list.filter((p) => !p.present());
  const canInstall = opts.install && process.getuid?.() === 0 && onPath("apt-get")();
  if (missing.length > 0 && canInstall) {
    const pkgs = missing.map((p) => p.aptPackage);
    process.stderr.write(`installing missing system packages: ${pkgs.join(" ")}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    spawnSync("apt-get", ["install", "-y", "-qq", ...pkgs], { stdio: "inherit", env });
    missing = missing.filter((p) => !p.present());
  }
  return missing.map((p) => `${p.name} is missing: run \`sudo apt-get install -y ${p.aptPackage}\` (Debian/Ubuntu)`);
}
