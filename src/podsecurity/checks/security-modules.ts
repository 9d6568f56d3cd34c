/**
 * Linux security modules: AppArmor and SELinux (pod-security-admission
 * `check_appArmorProfile.go`, `check_seLinuxOptions.go`).
 */
import { obj, str } from "../pod.js";
import {
  containerSubjects,
  containersPhrase,
  goQuote,
  goSorted,
  joinQuote,
  pluralize,
  sortedSet,
} from "../text.js";
import type { CheckDef, Failure, Json, PodView } from "../types.js";

const APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/";

function allowedAppArmorType(type: string): boolean {
  return type === "RuntimeDefault" || type === "Localhost";
}

function allowedAppArmorAnnotation(value: string): boolean {
  return value === "" || value === "runtime/default" || value.startsWith("localhost/");
}

function appArmorProfile(pod: PodView): Failure | undefined {
  const badSetters: string[] = [];
  const badValues: string[] = [];
  const subjects: string[] = [];
  const podProfile = obj(pod.securityContext?.appArmorProfile);
  if (podProfile !== undefined && !allowedAppArmorType(str(podProfile.type))) {
    badSetters.push("pod");
    subjects.push("pod");
    badValues.push(str(podProfile.type));
  }
  const bad: string[] = [];
  for (const c of pod.containers) {
    const profile = obj(c.securityContext?.appArmorProfile);
    if (profile !== undefined && !allowedAppArmorType(str(profile.type))) {
      bad.push(c.name);
      badValues.push(str(profile.type));
    }
  }
  if (bad.length > 0) {
    badSetters.push(containersPhrase(bad));
    subjects.push(...containerSubjects(bad));
  }
  const annotations: string[] = [];
  for (const [key, value] of Object.entries(pod.annotations)) {
    if (key.startsWith(APPARMOR_ANNOTATION_PREFIX) && !allowedAppArmorAnnotation(str(value))) {
      annotations.push(`${key}=${goQuote(str(value))}`);
      subjects.push(`annotation ${key}`);
    }
  }
  const valueList = [...sortedSet(badValues), ...goSorted(annotations)];
  if (annotations.length > 0) {
    badSetters.push(pluralize("annotation", "annotations", annotations.length));
  }
  if (badSetters.length === 0) return undefined;
  return {
    reason: pluralize(
      "forbidden AppArmor profile",
      "forbidden AppArmor profiles",
      valueList.length,
    ),
    detail: `${badSetters.join(" and ")} must not set AppArmor profile type to ${joinQuote(valueList)}`,
    subjects,
  };
}

const SELINUX_TYPES_1_0 = ["", "container_t", "container_init_t", "container_kvm_t"];

function seLinuxOptions(allowedTypes: ReadonlySet<string>) {
  return (pod: PodView): Failure | undefined => {
    const badTypes: string[] = [];
    let setUser = false;
    let setRole = false;
    const valid = (options: Json): boolean => {
      let ok = true;
      if (!allowedTypes.has(str(options.type))) {
        ok = false;
        badTypes.push(str(options.type));
      }
      if (str(options.user) !== "") {
        ok = false;
        setUser = true;
      }
      if (str(options.role) !== "") {
        ok = false;
        setRole = true;
      }
      return ok;
    };
    const badSetters: string[] = [];
    const subjects: string[] = [];
    const podOptions = obj(pod.securityContext?.seLinuxOptions);
    if (podOptions !== undefined && !valid(podOptions)) {
      badSetters.push("pod");
      subjects.push("pod");
    }
    const bad: string[] = [];
    for (const c of pod.containers) {
      const options = obj(c.securityContext?.seLinuxOptions);
      if (options !== undefined && !valid(options)) bad.push(c.name);
    }
    if (bad.length > 0) {
      badSetters.push(containersPhrase(bad));
      subjects.push(...containerSubjects(bad));
    }
    if (badSetters.length === 0) return undefined;
    const data: string[] = [];
    const types = sortedSet(badTypes);
    if (types.length > 0) {
      data.push(`${pluralize("type", "types", types.length)} ${joinQuote(types)}`);
    }
    if (setUser) data.push("user may not be set");
    if (setRole) data.push("role may not be set");
    return {
      reason: "seLinuxOptions",
      detail: `${badSetters.join(" and ")} set forbidden securityContext.seLinuxOptions: ${data.join("; ")}`,
      subjects,
    };
  };
}

export const SECURITY_MODULE_CHECKS: readonly CheckDef[] = [
  { id: "appArmorProfile", level: "baseline", versions: [{ since: 0, run: appArmorProfile }] },
  {
    id: "seLinuxOptions",
    level: "baseline",
    versions: [
      { since: 0, run: seLinuxOptions(new Set(SELINUX_TYPES_1_0)) },
      { since: 31, run: seLinuxOptions(new Set([...SELINUX_TYPES_1_0, "container_engine_t"])) },
    ],
  },
];
