/**
 * How the offline commands print verdicts: one line per object in kubectl's manner
 * (`DataPlane acme/prod-eu denied: spec.clusterAgent.clientCA...`, `Connector team-a/git
 * allowed with 2 warnings`), warnings indented under it; and the same records as JSON.
 */
import type { Decision, KubeObject } from "../core/types.js";

/** The verdict on one object, as `check -o json` prints it. */
export interface ObjectVerdict {
  readonly kind: string;
  readonly apiVersion: string;
  /** `null` for cluster-scoped objects. */
  readonly namespace: string | null;
  readonly name: string;
  /** Where the object came from (`null` when read from the cluster). */
  readonly file: string | null;
  readonly line: number | null;
  readonly decision: "allowed" | "denied";
  /** The denial as the webhook sends it to kubectl; for an injected Pod, what was injected. */
  readonly message: string;
  readonly warnings: readonly string[];
}

/** The verdict record of a decision on `object` (namespace as the request had it). */
export function verdictOf(
  object: KubeObject,
  namespace: string | undefined,
  decision: Decision,
  where: { file: string | null; line: number | null },
): ObjectVerdict {
  const name = object.metadata?.name || `${object.metadata?.generateName ?? ""}(generated)`;
  return {
    kind: object.kind ?? "",
    apiVersion: object.apiVersion ?? "",
    namespace: namespace ?? null,
    name,
    file: where.file,
    line: where.line,
    decision: decision.kind === "deny" ? "denied" : "allowed",
    message:
      decision.kind === "deny"
        ? decision.message
        : decision.kind === "patch" && decision.operations.length > 0
          ? `CA injected: ${decision.summary ?? `${decision.operations.length} operations`}`
          : "",
    warnings: [...decision.warnings],
  };
}

/** `DataPlane acme/prod-eu`, `ClusterDataPlane shared`. */
export function objectRef(
  kind: string,
  namespace: string | null | undefined,
  name: string,
): string {
  return `${kind} ${namespace ? `${namespace}/` : ""}${name}`;
}

/**
 * The denial without what the line already says: the `Kind.group "name" is invalid: ` subject
 * of a validation message and the `ca-trust-webhook: ` prefix of an injection denial.
 */
export function shortMessage(message: string): string {
  return message
    .replace(/^[A-Za-z0-9.]+ "[^"]*" is invalid: /, "")
    .replace(/^ca-trust-webhook: /, "");
}

/** `2 warnings`, `1 object`. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** The lines of one verdict: the verdict, the file of a denial, the warnings. */
export function verdictLines(verdict: ObjectVerdict): string[] {
  const ref = objectRef(verdict.kind, verdict.namespace, verdict.name);
  const lines: string[] = [];
  if (verdict.decision === "denied") {
    lines.push(`${ref} denied: ${shortMessage(verdict.message)}`);
    if (verdict.file !== null) lines.push(`  at ${verdict.file}:${verdict.line ?? 1}`);
  } else {
    const warned =
      verdict.warnings.length === 0 ? "" : ` with ${plural(verdict.warnings.length, "warning")}`;
    const note = verdict.message === "" ? "" : ` (${verdict.message})`;
    lines.push(`${ref} allowed${warned}${note}`);
  }
  for (const warning of verdict.warnings) lines.push(`  Warning: ${warning}`);
  return lines;
}

/** JSON output: two-space indented, with a final newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
