// "A cluster exists": the fact a member without data needs before it may bootstrap a new cluster. Each etcd pod's
// auth keeper writes a marker file on the pod's data volume once it has seen client auth on (which takes a cluster
// with a leader), and each pod answers GET /dzug/member on its status port: member-init while it decides, the
// keeper while etcd runs. A member without data and without a reachable leader bootstraps only when every other
// desired member answers that it has never seen a cluster (a fresh install, or a wipe: every volume gone); one
// peer holding the marker, or one that does not answer, makes it wait for the leader instead, so a member that
// lost its volume in a full stop never starts a second cluster beside peers that hold the data.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface MemberState {
  name: string;
  /** This pod has seen the cluster with a leader (its volume holds the marker). */
  clusterExists: boolean;
}

export const MEMBER_STATE_PATH = "/dzug/member";

export function markerPresent(file: string): boolean {
  return existsSync(file);
}

export function writeMarker(file: string): void {
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${new Date().toISOString()} this member has seen its etcd cluster with a leader\n`);
}

export function removeMarker(file: string): void {
  rmSync(file, { force: true });
}

/** What the other members say; undefined for one that does not answer. */
export async function peerStates(statusUrls: string[], timeoutMs: number): Promise<(MemberState | undefined)[]> {
  return Promise.all(
    statusUrls.map(async (url) => {
      try {
        const res = await fetch(`${url}${MEMBER_STATE_PATH}`, { signal: AbortSignal.timeout(timeoutMs) });
        if (!res.ok) return undefined;
        const body = (await res.json()) as Partial<MemberState>;
        return typeof body.clusterExists === "boolean"
          ? { name: String(body.name ?? ""), clusterExists: body.clusterExists }
          : undefined;
      } catch {
        return undefined;
      }
    }),
  );
}

/** Whether a member without data may bootstrap: every peer answered, none has seen a cluster. */
export function mayBootstrap(
  states: (MemberState | undefined)[],
  statusUrls: string[],
): { ok: boolean; reason: string } {
  const silent = statusUrls.filter((_, i) => states[i] === undefined);
  const seen = states.filter((s): s is MemberState => s?.clusterExists === true).map((s) => s.name);
  if (seen.length > 0)
    return { ok: false, reason: `a cluster exists (${seen.join(", ")} hold its marker): waiting for its leader` };
  if (silent.length > 0)
    return { ok: false, reason: `no data, and ${silent.join(", ")} do not say whether a cluster exists: waiting` };
  return { ok: true, reason: "every member says no cluster exists yet" };
}
