/**
 * Pods and the Pod templates of workloads, for `inject`: where the template sits in each
 * workload kind, the Pod the webhook would be asked about when the controller creates one, and
 * the webhook's Pod patch carried over to the template (same relative paths: a template has
 * the Pod's `metadata` and `spec`).
 */
import type { AddOperation, KubeObject } from "../core/types.js";
import { groupVersion } from "./admission.js";

/**
 * Where the Pod template is, per `group/Kind` (any version). A Pod is its own "template".
 * https://kubernetes.io/docs/concepts/workloads/pods/#pod-templates
 */
export const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  "/Pod": [],
  "apps/Deployment": ["spec", "template"],
  "apps/StatefulSet": ["spec", "template"],
  "apps/DaemonSet": ["spec", "template"],
  "apps/ReplicaSet": ["spec", "template"],
  "batch/Job": ["spec", "template"],
  "batch/CronJob": ["spec", "jobTemplate", "spec", "template"],
};

type Json = Record<string, unknown>;

/** A Pod or a workload's Pod template. */
export interface PodTemplate {
  /** Path from the object to the template (`[]` for a Pod). */
  readonly path: readonly string[];
  /** The template's (or Pod's) metadata, if it has any. */
  readonly metadata: Json | undefined;
  readonly spec: Json;
}

/** The Pod template of `object`, or undefined for kinds without one (or without a spec). */
export function podTemplateOf(object: KubeObject): PodTemplate | undefined {
  const { group } = groupVersion(object.apiVersion ?? "");
  const path = TEMPLATE_PATHS[`${group}/${object.kind ?? ""}`];
  if (path === undefined) return undefined;
  let node: unknown = object;
  for (const step of path) node = isObject(node) ? node[step] : undefined;
  if (!isObject(node) || !isObject(node.spec)) return undefined;
  return {
    path,
    metadata: isObject(node.metadata) ? node.metadata : undefined,
    spec: node.spec,
  };
}

/**
 * The Pod the controller would create from the template, as the webhook sees it: the
 * template's metadata and spec, in the workload's namespace.
 */
export function podOf(template: PodTemplate, namespace: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { ...(template.metadata ?? {}), namespace },
    spec: template.spec,
  };
}

/** RFC 6901 escaping of one reference token. */
function escapeToken(token: string | number): string {
  return String(token).replace(/~/g, "~0").replace(/\//g, "~1");
}

/** A JSON pointer from tokens. */
export function pointerOf(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapeToken(t)}`).join("");
}

/**
 * The webhook's Pod patch as operations on the manifest: each path prefixed with where the
 * template sits (`prefix`: the template path, after the List item path for List members). A
 * template without `metadata` first gets an empty one, so that `/metadata/annotations` has a
 * parent (RFC 6902 §4.1).
 */
export function templateOperations(
  operations: readonly AddOperation[],
  template: PodTemplate,
  prefix: readonly (string | number)[],
): AddOperation[] {
  const base = pointerOf([...prefix, ...template.path]);
  const out: AddOperation[] = [];
  if (template.metadata === undefined && operations.some((op) => op.path.startsWith("/metadata"))) {
    out.push({ op: "add", path: `${base}/metadata`, value: {} });
  }
  for (const op of operations) out.push({ op: "add", path: `${base}${op.path}`, value: op.value });
  return out;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
