/**
 * Seccomp (pod-security-admission `check_seccompProfile_baseline.go`,
 * `check_seccompProfile_restricted.go`): before 1.19 the baseline check reads the alpha
 * annotations; from 1.19 the `seccompProfile` fields, and `restricted` requires a profile on
 * every container (its own or the Pod's).
 */
import { exceptWindows, obj, str } from "../pod.js";
import {
  containerSubjects,
  containersPhrase,
  goQuote,
  joinQuote,
  pluralize,
  sortedSet,
} from "../text.js";
import type { CheckDef, Failure, PodView } from "../types.js";

const POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod";
const CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/";

function validAnnotationValue(value: string): boolean {
  return (
    value === "runtime/default" || value === "docker/default" || value.startsWith("localhost/")
  );
}

/** The annotations of 1.0 to 1.18; an annotation that is present but empty is forbidden too. */
function seccompAnnotations(pod: PodView): Failure | undefined {
  const forbidden = new Set<string>();
  const subjects: string[] = [];
  const check = (key: string, subject: string) => {
    if (!Object.hasOwn(pod.annotations, key)) return;
    const value = str(pod.annotations[key]);
    if (!validAnnotationValue(value)) {
      forbidden.add(`${key}=${goQuote(value)}`);
      subjects.push(subject);
    }
  };
  check(POD_ANNOTATION, "pod");
  for (const c of pod.containers)
    check(CONTAINER_ANNOTATION_PREFIX + c.name, `container "${c.name}"`);
  if (forbidden.size === 0) return undefined;
  return {
    reason: "seccompProfile",
    detail: `forbidden ${pluralize("annotation", "annotations", forbidden.size)} ${sortedSet(forbidden).join(", ")}`,
    subjects,
  };
}

function validType(type: string): boolean {
  return type === "RuntimeDefault" || type === "Localhost";
}

/**
 * The field check of both levels: an explicit profile other than RuntimeDefault / Localhost
 * fails; with `required` (restricted) every container must also get one.
 */
function seccompFields(pod: PodView, required: boolean): Failure | undefined {
  const badSetters: string[] = [];
  const badValues: string[] = [];
  const subjects: string[] = [];
  let podSet = false;
  const podProfile = obj(pod.securityContext?.seccompProfile);
  if (podProfile !== undefined) {
    if (!validType(str(podProfile.type))) {
      badSetters.push("pod");
      subjects.push("pod");
      badValues.push(str(podProfile.type));
    } else {
      podSet = true;
    }
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of pod.containers) {
    const profile = obj(c.securityContext?.seccompProfile);
    if (profile !== undefined) {
      if (!validType(str(profile.type))) {
        explicit.push(c.name);
        badValues.push(str(profile.type));
      }
    } else if (!podSet) {
      implicit.push(c.name);
    }
  }
  if (explicit.length > 0) {
    badSetters.push(containersPhrase(explicit));
    subjects.push(...containerSubjects(explicit));
  }
  if (badSetters.length > 0) {
    return {
      reason: "seccompProfile",
      detail: `${badSetters.join(" and ")} must not set securityContext.seccompProfile.type to ${joinQuote(sortedSet(badValues))}`,
      subjects,
    };
  }
  if (required && implicit.length > 0) {
    return {
      reason: "seccompProfile",
      detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
      subjects: containerSubjects(implicit),
    };
  }
  return undefined;
}

const seccompBaseline = (pod: PodView) => seccompFields(pod, false);
const seccompRestricted = (pod: PodView) => seccompFields(pod, true);

export const SECCOMP_CHECKS: readonly CheckDef[] = [
  {
    id: "seccompProfile_baseline",
    level: "baseline",
    versions: [
      { since: 0, run: seccompAnnotations },
      { since: 19, run: seccompBaseline },
    ],
  },
  {
    id: "seccompProfile_restricted",
    level: "restricted",
    versions: [
      { since: 19, run: seccompRestricted, overrides: ["seccompProfile_baseline"] },
      {
        since: 25,
        run: exceptWindows(seccompRestricted),
        overrides: ["seccompProfile_baseline"],
      },
    ],
  },
];
