/**
 * `ca-trust-webhook inject -f PATH...`: the manifests as the webhook would mutate them, and
 * whether the result still passes PodSecurity. For every Pod and every workload's Pod template
 * (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) the webhook's own `mutate`
 * decision is made for the Pod the controller would create, its patch is applied to the
 * template (fast-json-patch for the result, the YAML document for the output, so comments and
 * layout survive), and the Pod Security Standards are evaluated before and after.
 *
 * stdout is the manifests (all of them, changed or not, so it can be piped to
 * `kubectl apply -f -`), or a unified diff (`--diff`), or the report as JSON (`-o json`); the
 * report goes to stderr otherwise.
 *
 * Defaults a platform engineer expects (as `istioctl kube-inject`): a namespace whose labels are
 * unknown (not in the input; with `--cluster`, not in the cluster either) is taken as opted in
 * (`--assume-opted-in`, default true), since the point is to see the injected result; a known
 * Namespace and the Pod label `ca-trust.dev/inject` are honoured exactly as the webhook
 * honours them.
 *
 * PodSecurity is evaluated by src/podsecurity at `--pod-security` (default `restricted`) and
 * `--pod-security-version` (default `latest`, the newest policy version implemented, which is
 * what a namespace without a version label gets from an apiserver of that version or newer).
 *
 * Exit codes: 0 every result is admissible (and nothing was denied); 1 the webhook would deny a
 * Pod, or a result fails the PodSecurity level (`restricted` by default) — whether injection
 * made it fail or it failed already (said apart in the report; `--ignore-preexisting` exits 0
 * for workloads that failed before injection and fail the same way after it); 2 usage or I/O
 * error.
 */
import { readFileSync } from "node:fs";
import fastJsonPatch from "fast-json-patch";
import { isMap, stringify } from "yaml";
import type { AddOperation, Decision, KubeObject } from "../core/types.js";
import { buildDecisions } from "../decisions.js";
import { podOptIn } from "../inject/pod.js";
import { INJECT_LABEL, INJECT_LABEL_VALUES } from "../inject/settings.js";
import {
  evaluate,
  forbiddenMessage,
  NEWEST_VERSION,
  newViolations,
  type PodSecurityLevel,
  type PodSecurityPolicy,
  type PodSecurityResult,
  type PodSecurityVersion,
  parsePodSecurityVersion,
} from "../podsecurity/index.js";
import { createRequest } from "./admission.js";
import { inputView } from "./check.js";
import { unifiedDiff } from "./diff.js";
import { manifestsOf, readSources, type Source } from "./input.js";
import { type CliIo, UsageError } from "./io.js";
import {
  type CommandSpec,
  fileArgs,
  outputArg,
  type ParsedArgs,
  runCommand,
  stringArg,
} from "./options.js";
import { json, objectRef, plural, shortMessage } from "./output.js";
import { LiveClusterView, layeredView } from "./view.js";
import { podOf, podTemplateOf, templateOperations } from "./workloads.js";
import { applyToDocument } from "./yaml-patch.js";

const { applyPatch, deepClone } = fastJsonPatch;

/** `inject`'s command line. */
export const INJECT_COMMAND: CommandSpec = {
  name: "inject",
  usage: "-f PATH... [options]",
  description: [
    "Prints the manifests as the webhook would inject them (Pods, and the Pod templates of",
    "Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs; everything else",
    "unchanged), then checks the Pod Security Standards on the result (report on stderr).",
    "Exit: 0 all admissible, 1 a Pod denied by the webhook or a result failing the PodSecurity",
    "level (also when it failed before injection, unless --ignore-preexisting), 2 usage or I/O error.",
  ].join(" "),
  options: {
    filename: {
      flags: "-f, --filename <PATH>",
      help: "file, directory (recursive: *.yaml, *.yml, *.json) or - for stdin; repeatable",
      multiple: true,
    },
    output: {
      flags: "-o, --output <yaml|json>",
      help: "yaml: the manifests; json: the report (and the operations) instead [default: yaml]",
    },
    diff: {
      flags: "--diff",
      help: "print a unified diff of the manifests instead of the manifests",
    },
    namespace: {
      flags: "-n, --namespace <NAME>",
      help: 'namespace of objects without one [default: the kubeconfig context\'s, or "default"]',
    },
    "assume-opted-in": {
      flags: "--assume-opted-in [true|false]",
      help: "a namespace whose labels are unknown counts as opted in [default: true]",
      switch: true,
    },
    "ca-bundle": {
      flags: "--ca-bundle <FILE>",
      help: "PEM used as the CA ConfigMap (or ClusterTrustBundle) where the input (and cluster) has none",
    },
    "pod-security": {
      flags: "--pod-security <LEVEL>",
      help: "restricted or baseline [default: restricted]",
    },
    "pod-security-version": {
      flags: "--pod-security-version <VERSION>",
      help: `latest (= ${NEWEST_VERSION}) or v1.<minor>, as the label pod-security.kubernetes.io/enforce-version; set your apiserver's minor to check as it does [default: latest]`,
    },
    "ignore-preexisting": {
      flags: "--ignore-preexisting",
      help: "exit 0 for workloads that failed the level before injection too",
    },
    cluster: {
      flags: "--cluster",
      help: "read Namespaces and CA ConfigMaps (or ClusterTrustBundles) missing from the input from the cluster",
    },
    kubeconfig: {
      flags: "--kubeconfig <FILE>",
      help: "with --cluster: the kubeconfig [default: as kubectl]",
    },
    context: {
      flags: "--context <NAME>",
      help: "with --cluster: the kubeconfig context [default: the current one]",
    },
  },
};

/** What happened to one Pod or Pod template. */
export type InjectionOutcome =
  | "injected"
  /** The webhook would patch nothing: the Pod already carries every piece. */
  | "unchanged"
  | "not-opted-in"
  | "opted-out"
  /** Allowed without a patch for another reason (Windows, no containers, skip-and-warn). */
  | "skipped"
  | "denied";

/** The PodSecurity verdict on the result. */
export type PodSecurityVerdict = "passes" | "fails-already" | "fails-after-injection";

/** One Pod or workload, as `inject -o json` prints it. */
export interface InjectReport {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly injection: InjectionOutcome;
  /** The denial, or what was injected. */
  readonly message: string;
  readonly warnings: readonly string[];
  /** The patch as applied to the manifest (paths from the object's root). */
  readonly operations: readonly AddOperation[];
  readonly podSecurity: {
    readonly level: PodSecurityLevel;
    readonly version: PodSecurityVersion;
    readonly verdict: PodSecurityVerdict;
    readonly before: PodSecurityResult;
    readonly after: PodSecurityResult;
    /** What failed only after injection. */
    readonly introduced: PodSecurityResult["violations"];
  };
}

/** Runs `inject` with argv after the command word; resolves to the exit code. */
export function runInject(argv: readonly string[], io: CliIo): Promise<number> {
  return runCommand(INJECT_COMMAND, argv, io, (parsed) => inject(parsed, io));
}

async function inject({ values, settings }: ParsedArgs, io: CliIo): Promise<number> {
  const files = fileArgs(values.filename);
  if (files.length === 0) throw new UsageError("-f: at least one file, directory or - is required");
  const output = outputArg(values.output, ["yaml", "json"] as const, "yaml");
  if (values.diff && output === "json")
    throw new UsageError("--diff and -o json exclude each other");
  const policy: PodSecurityPolicy = {
    level: podSecurityLevel(values["pod-security"]),
    version: podSecurityVersion(values["pod-security-version"]),
  };
  const assumeOptedIn = values["assume-opted-in"] !== false;
  const caBundle = readCaBundle(stringArg(values["ca-bundle"]));
  const sources = await readSources(files, io.readStdin);
  const manifests = manifestsOf(sources);

  const connection = values.cluster
    ? io.connect({
        kubeconfig: stringArg(values.kubeconfig),
        context: stringArg(values.context),
      })
    : undefined;
  const defaultNamespace = stringArg(values.namespace) ?? connection?.namespace ?? "default";
  const flagSource = { namespace: settings.systemNamespace, name: settings.flagConfigMap };
  const input = inputView(manifests, defaultNamespace, flagSource);
  const workloads = manifests.filter((m) => podTemplateOf(m.object) !== undefined);
  let live: LiveClusterView | undefined;
  if (connection !== undefined) {
    live = new LiveClusterView(connection.reader, flagSource);
    const namespaces = new Set(
      workloads.map((m) => m.object.metadata?.namespace || defaultNamespace),
    );
    await live.loadNamespaces([...namespaces].filter((ns) => !input.view.namespaceLabels(ns)));
  }
  const key = settings.injection.customCa.configMapKey;
  const view = layeredView({
    input: input.view,
    inputHasFlags: input.hasFlags,
    cluster: live,
    flagOverrides: new Map(),
    unknownNamespace: (): Record<string, string> =>
      assumeOptedIn ? { [INJECT_LABEL]: INJECT_LABEL_VALUES.namespaceEnabled } : {},
    ...(caBundle === undefined
      ? {}
      : {
          fallbackConfigMap: (namespace, name) => ({ namespace, name, data: { [key]: caBundle } }),
          fallbackClusterTrustBundles: (selection) => [
            "name" in selection
              ? { name: selection.name, trustBundle: caBundle }
              : {
                  name: "ca-bundle-file",
                  signerName: selection.signerName,
                  trustBundle: caBundle,
                },
          ],
        }),
  });
  const decisions = buildDecisions(settings, view, { clock: io.clock });

  // Operations per document (paths from the document root), applied once per document below.
  const documentOps = new Map<Source, Map<number, AddOperation[]>>();
  const reports: InjectReport[] = [];
  for (const manifest of workloads) {
    const template = podTemplateOf(manifest.object);
    if (template === undefined) continue;
    const namespace = manifest.object.metadata?.namespace || defaultNamespace;
    const pod = podOf(template, namespace);
    const request = createRequest(
      pod,
      { gvk: { group: "", version: "v1", kind: "Pod" }, resource: "pods", namespaced: true },
      namespace,
      "ca-trust-webhook inject",
    );
    const decision = await decisions.mutate(request, { deadline: undefined });
    const podOps = decision.kind === "patch" ? decision.operations : [];
    const objectOps = templateOperations(podOps, template, []);
    const before = evaluate(template, policy);
    let after = before;
    if (objectOps.length > 0) {
      const patched = applyPatch(deepClone(manifest.object), objectOps, true, false)
        .newDocument as KubeObject;
      const result = podTemplateOf(patched);
      after = evaluate(result ?? {}, policy);
      const opsOfSource = documentOps.get(manifest.source) ?? new Map<number, AddOperation[]>();
      documentOps.set(manifest.source, opsOfSource);
      const forDocument = opsOfSource.get(manifest.document) ?? [];
      forDocument.push(...templateOperations(podOps, template, manifest.path));
      opsOfSource.set(manifest.document, forDocument);
    }
    const introduced = newViolations(before, after);
    const verdict: PodSecurityVerdict = after.allowed
      ? "passes"
      : introduced.length > 0
        ? "fails-after-injection"
        : "fails-already";
    reports.push({
      kind: manifest.object.kind ?? "",
      apiVersion: manifest.object.apiVersion ?? "",
      namespace,
      name:
        manifest.object.metadata?.name ||
        `${manifest.object.metadata?.generateName ?? ""}(generated)`,
      file: manifest.source.name,
      line: manifest.line,
      injection: outcomeOf(decision, pod, view.namespaceLabels(namespace)),
      message:
        decision.kind === "deny"
          ? decision.message
          : decision.kind === "patch" && decision.operations.length > 0
            ? (decision.summary ?? "")
            : "",
      warnings: [...decision.warnings],
      operations: templateOperations(podOps, template, manifest.path),
      podSecurity: { ...policy, verdict, before, after, introduced },
    });
  }

  if (output === "json") io.stdout(json(reports));
  else if (values.diff) io.stdout(renderDiff(sources, documentOps));
  else io.stdout(renderManifests(sources, documentOps));
  if (output !== "json") io.stderr(reportText(reports, manifests.length - workloads.length));

  if (live !== undefined && live.errors.length > 0) {
    for (const error of live.errors) io.stderr(`error: cluster lookup failed: ${error}\n`);
    return 2;
  }
  const failing = reports.some(
    (r) =>
      r.injection === "denied" ||
      r.podSecurity.verdict === "fails-after-injection" ||
      (r.podSecurity.verdict === "fails-already" && !values["ignore-preexisting"]),
  );
  return failing ? 1 : 0;
}

function podSecurityLevel(value: string | boolean | string[] | undefined): PodSecurityLevel {
  if (value === undefined || value === "restricted") return "restricted";
  if (value === "baseline") return "baseline";
  throw new UsageError(
    `--pod-security: expected restricted or baseline, got ${JSON.stringify(value)}`,
  );
}

function podSecurityVersion(value: string | boolean | string[] | undefined): PodSecurityVersion {
  if (value === undefined) return "latest";
  const version = typeof value === "string" ? parsePodSecurityVersion(value) : undefined;
  if (version === undefined) {
    throw new UsageError(
      `--pod-security-version: expected latest or v1.<minor> (e.g. v1.33), got ${JSON.stringify(value)}`,
    );
  }
  return version;
}

function readCaBundle(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(
      `--ca-bundle ${path}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`,
    );
  }
}

function outcomeOf(
  decision: Decision,
  pod: KubeObject,
  namespaceLabels: Record<string, string> | undefined,
): InjectionOutcome {
  if (decision.kind === "deny") return "denied";
  if (decision.kind === "patch") return decision.operations.length > 0 ? "injected" : "unchanged";
  const optIn = podOptIn(pod.metadata?.labels, namespaceLabels);
  if (optIn === "opted-out") return "opted-out";
  if (optIn === "not-opted-in") return "not-opted-in";
  return "skipped";
}

/** The documents as YAML, with the patches applied (all documents, in input order). */
function renderManifests(
  sources: readonly Source[],
  ops: ReadonlyMap<Source, ReadonlyMap<number, readonly AddOperation[]>>,
): string {
  const docs: string[] = [];
  for (const source of sources) {
    source.documents.forEach((_, index) => {
      const text = renderDocument(source, index, ops.get(source)?.get(index) ?? []);
      if (text !== undefined) docs.push(text);
    });
  }
  return docs.join("---\n");
}

/** A unified diff per changed source. */
function renderDiff(
  sources: readonly Source[],
  ops: ReadonlyMap<Source, ReadonlyMap<number, readonly AddOperation[]>>,
): string {
  let out = "";
  for (const source of sources) {
    const changes = ops.get(source);
    if (changes === undefined) continue;
    const before: string[] = [];
    const after: string[] = [];
    source.documents.forEach((_, index) => {
      const unchanged = renderDocument(source, index, []);
      if (unchanged !== undefined) before.push(unchanged);
      const changed = renderDocument(source, index, changes.get(index) ?? []);
      if (changed !== undefined) after.push(changed);
    });
    const name = source.name.replace(/^\/+/, "");
    out += unifiedDiff(`a/${name}`, `b/${name}`, before.join("---\n"), after.join("---\n"));
  }
  return out;
}

/**
 * One document as YAML with `ops` applied: block YAML keeps its comments and layout (the
 * operations are applied to the parsed document); a JSON (flow) document is written as block
 * YAML from its value. Empty documents are left out.
 */
function renderDocument(
  source: Source,
  index: number,
  ops: readonly AddOperation[],
): string | undefined {
  const original = source.documents[index];
  if (original === undefined || !isMap(original.contents)) return undefined;
  if (original.contents.flow === true) {
    const value: unknown = original.toJS({ maxAliasCount: 1000 });
    const patched =
      ops.length === 0 ? value : applyPatch(deepClone(value), [...ops], true, false).newDocument;
    return stringify(patched, TO_STRING);
  }
  if (ops.length === 0) return withoutDocumentMarker(original.toString(TO_STRING));
  const document = original.clone();
  applyToDocument(document, ops);
  return withoutDocumentMarker(document.toString(TO_STRING));
}

/** No line folding: long strings (the init script, PEM) stay as they are. */
const TO_STRING = { lineWidth: 0 } as const;

/** `---` is written between documents by the caller. */
function withoutDocumentMarker(text: string): string {
  return text.replace(/^---\n/, "");
}

/** The report for people (stderr). */
function reportText(reports: readonly InjectReport[], others: number): string {
  const lines: string[] = [];
  for (const r of reports) {
    const ref = objectRef(r.kind, r.namespace, r.name);
    const injection = describeInjection(r);
    const pss = r.podSecurity;
    const policy = `PodSecurity "${pss.level}:${pss.version}"`;
    const verdict =
      pss.verdict === "passes"
        ? `passes ${policy}`
        : pss.verdict === "fails-already"
          ? `fails ${policy}, as it did before injection`
          : `fails ${policy} because of the injection`;
    lines.push(`${ref}: ${injection}; ${verdict}`);
    if (pss.verdict === "fails-after-injection") {
      lines.push(`  introduced: ${forbiddenMessage({ ...pss.after, violations: pss.introduced })}`);
    }
    if (!pss.after.allowed) lines.push(`  ${forbiddenMessage(pss.after)}`);
    for (const warning of r.warnings) lines.push(`  Warning: ${warning}`);
  }
  const count = (outcome: InjectionOutcome) =>
    reports.filter((r) => r.injection === outcome).length;
  const failing = reports.filter((r) => r.podSecurity.verdict !== "passes");
  const broken = reports.filter((r) => r.podSecurity.verdict === "fails-after-injection");
  const summary = [
    `${plural(reports.length, "Pod or workload", "Pods or workloads")}: ${count("injected")} injected`,
    count("denied") > 0 ? `${count("denied")} denied by the webhook` : undefined,
    failing.length > 0
      ? `${failing.length} failing PodSecurity (${broken.length} because of the injection, ${failing.length - broken.length} already before it)`
      : undefined,
    others > 0 ? `${plural(others, "other object")} unchanged` : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(", ");
  lines.push(summary);
  return `${lines.join("\n")}\n`;
}

function describeInjection(r: InjectReport): string {
  switch (r.injection) {
    case "injected":
      return `CA injected (${r.message})`;
    case "unchanged":
      return "already injected, nothing to add";
    case "not-opted-in":
      return `not injected: namespace "${r.namespace}" is not opted in (${INJECT_LABEL}=${INJECT_LABEL_VALUES.namespaceEnabled})`;
    case "opted-out":
      return `not injected: opted out (label ${INJECT_LABEL}=${INJECT_LABEL_VALUES.podOptOut})`;
    case "skipped":
      return "not injected";
    case "denied":
      return `denied by the webhook: ${shortMessage(r.message)}`;
  }
}
