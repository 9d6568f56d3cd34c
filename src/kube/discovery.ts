/**
 * API discovery through @kubernetes/client-node, as the Secret guard's reference index and the
 * offline commands both read it: each group with its versions (the preferred one first), and
 * the resources a group version serves (undefined when it is not served: its CRD is not
 * installed).
 */
import type { ApisApi, CustomObjectsApi } from "@kubernetes/client-node";
import { statusOf } from "./cluster.js";

/** One served resource of a group version. */
export interface ApiResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** What discovery reads: the groups with their versions (preferred first), a version's resources. */
export interface Discovery {
  apiGroups(): Promise<ReadonlyMap<string, readonly string[]>>;
  /** Undefined when the group version is not served (404). */
  apiResources(group: string, version: string): Promise<readonly ApiResource[] | undefined>;
}

export function clientDiscovery(apis: ApisApi, custom: CustomObjectsApi): Discovery {
  return {
    apiGroups: async () => {
      const list = await apis.getAPIVersions();
      const groups = new Map<string, string[]>();
      for (const group of list.groups ?? []) {
        const preferred = group.preferredVersion?.version;
        const versions = (group.versions ?? []).map((v) => v.version);
        groups.set(group.name, [
          ...(preferred ? [preferred] : []),
          ...versions.filter((v) => v !== preferred),
        ]);
      }
      return groups;
    },
    apiResources: async (group, version) => {
      try {
        const list = await custom.getAPIResources({ group, version });
        return list.resources.map((r) => ({
          name: r.name,
          kind: r.kind,
          namespaced: r.namespaced,
        }));
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    },
  };
}
