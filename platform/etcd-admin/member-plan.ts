// How an etcd member starts, decided from what it has (its data dir) and what it sees (a cluster with
// a leader, and that cluster's member list). Pure: member-init.ts gathers the facts and acts.
//
//   no cluster answers with a leader  -> data: restart as it was | no data: bootstrap a new cluster
//   the cluster lists me, started     -> data: restart | no data (volume lost): remove me, add me again
//   the cluster lists me, not started -> join with `existing` (added, or bootstrapped without me so far)
//   the cluster does not list me      -> no data: add me (scale up) | data (I was removed): wipe, add me

export interface SeedMember {
  name: string;
  peerUrl: string;
}

export interface ClusterMember {
  id: string;
  /** Empty for a member added at runtime until it starts; set from --initial-cluster at bootstrap. */
  name: string;
  peerURLs: string[];
  /** Published by the member once it has started: empty = never started. */
  clientURLs: string[];
}

export interface Observed {
  members: ClusterMember[];
}

export interface StartPlan {
  state: "new" | "existing";
  /** Why, for the log. */
  reason: string;
  /** Delete the data dir first (this member was removed from the cluster it holds data of). */
  wipe: boolean;
  /** Remove this stale member id before adding. */
  removeId?: string;
  /** Ask the cluster to add this member (MemberAdd with its peer URL). */
  add: boolean;
}

export function planStart(self: SeedMember, hasData: boolean, cluster: Observed | undefined): StartPlan {
  if (!cluster) {
    return hasData
      ? {
          state: "existing",
          reason: "no cluster with a leader answers; restarting from my data",
          wipe: false,
          add: false,
        }
      : {
          state: "new",
          reason: "no cluster with a leader answers and I have no data: bootstrapping",
          wipe: false,
          add: false,
        };
  }
  const me = cluster.members.find((m) => m.peerURLs.includes(self.peerUrl));
  if (!me) {
    return hasData
      ? {
          state: "existing",
          reason: "the cluster does not list me (removed): wiping old data, joining",
          wipe: true,
          add: true,
        }
      : { state: "existing", reason: "the cluster does not list me: joining as a new member", wipe: false, add: true };
  }
  if (me.clientURLs.length === 0) {
    return { state: "existing", reason: "added to the cluster, never started: joining", wipe: hasData, add: false };
  }
  return hasData
    ? { state: "existing", reason: "member with data: restarting", wipe: false, add: false }
    : {
        state: "existing",
        reason: "member whose data was lost: replacing it",
        wipe: false,
        removeId: me.id,
        add: true,
      };
}

/** `--initial-cluster` for joining: every member of the list, by name (or a seed name, or a stand-in for
 * unstarted ones), this member under its own name. */
export function initialCluster(self: SeedMember, seeds: SeedMember[], members: ClusterMember[]): string {
  const parts: string[] = [];
  for (const m of members) {
    const mine = m.peerURLs.includes(self.peerUrl);
    const seed = seeds.find((s) => m.peerURLs.includes(s.peerUrl));
    const name = mine ? self.name : m.name || seed?.name || `pending-${m.id}`;
    for (const url of m.peerURLs) parts.push(`${name}=${url}`);
  }
  return parts.join(",");
}

/** Members that are not among the desired seeds (by peer URL): what a scale-down removes. */
export function surplusMembers(seeds: SeedMember[], members: ClusterMember[]): ClusterMember[] {
  const wanted = new Set(seeds.map((s) => s.peerUrl));
  return members.filter((m) => !m.peerURLs.some((u) => wanted.has(u)));
}

/** `name=peerURL` entries (the etcd --initial-cluster format) parsed. */
export function parseSeeds(entries: string[]): SeedMember[] {
  return entries.map((e) => {
    const i = e.indexOf("=");
    if (i <= 0) throw new Error(`cluster member "${e}" is not name=peerURL`);
    return { name: e.slice(0, i), peerUrl: e.slice(i + 1) };
  });
}
