/**
 * Volume controls: no hostPath at baseline; at restricted only the listed inline sources
 * (pod-security-admission `check_hostPathVolumes.go`, `check_restrictedVolumes.go`).
 */
import { isSet, list, str } from "../pod.js";
import { joinQuote, pluralize, sortedSet } from "../text.js";
import type { CheckDef, Failure, Json, PodView } from "../types.js";

function hostPathVolumes(pod: PodView): Failure | undefined {
  const bad = list(pod.spec.volumes)
    .filter((v) => isSet(v.hostPath))
    .map((v) => str(v.name));
  if (bad.length === 0) return undefined;
  return {
    reason: "hostPath volumes",
    detail: `${pluralize("volume", "volumes", bad.length)} ${joinQuote(bad)}`,
    subjects: bad.map((n) => `volume "${n}"`),
  };
}

/** The inline volume sources `restricted` allows. */
const ALLOWED_VOLUME_SOURCES = [
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "image",
  "persistentVolumeClaim",
  "projected",
  "secret",
];

/** The sources it names when refusing, in the policy's order (anything else is "unknown"). */
const RESTRICTED_VOLUME_SOURCES = [
  "hostPath",
  "gcePersistentDisk",
  "awsElasticBlockStore",
  "gitRepo",
  "nfs",
  "iscsi",
  "glusterfs",
  "rbd",
  "flexVolume",
  "cinder",
  "cephfs",
  "flocker",
  "fc",
  "azureFile",
  "vsphereVolume",
  "quobyte",
  "azureDisk",
  "photonPersistentDisk",
  "portworxVolume",
  "scaleIO",
  "storageos",
];

/**
 * A volume with no source at all: the apiserver defaults it to an emptyDir before admission
 * runs, so upstream's fixtures count it as allowed (`restrictedVolumes0`, "implicit empty
 * dir") although its check, run on the Pod as written, would name it "unknown".
 */
function defaultsToEmptyDir(volume: Json): boolean {
  return Object.keys(volume).every((field) => field === "name" || !isSet(volume[field]));
}

function restrictedVolumes(pod: PodView): Failure | undefined {
  const bad: string[] = [];
  const types: string[] = [];
  for (const volume of list(pod.spec.volumes)) {
    if (ALLOWED_VOLUME_SOURCES.some((field) => isSet(volume[field]))) continue;
    if (defaultsToEmptyDir(volume)) continue;
    bad.push(str(volume.name));
    types.push(RESTRICTED_VOLUME_SOURCES.find((field) => isSet(volume[field])) ?? "unknown");
  }
  if (bad.length === 0) return undefined;
  const typeList = sortedSet(types);
  return {
    reason: "restricted volume types",
    detail: `${pluralize("volume", "volumes", bad.length)} ${joinQuote(bad)} ${pluralize("uses", "use", bad.length)} ${pluralize("restricted volume type", "restricted volume types", typeList.length)} ${joinQuote(typeList)}`,
    subjects: bad.map((n) => `volume "${n}"`),
  };
}

export const VOLUME_CHECKS: readonly CheckDef[] = [
  { id: "hostPathVolumes", level: "baseline", versions: [{ since: 0, run: hostPathVolumes }] },
  {
    id: "restrictedVolumes",
    level: "restricted",
    versions: [{ since: 0, run: restrictedVolumes, overrides: ["hostPathVolumes"] }],
  },
];
