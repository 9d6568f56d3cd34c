/**
 * `ca-trust-webhook scan`: what is already in the cluster and would not pass the webhook today,
 * read-only (GET and paginated LIST; never a watch, never a write):
 *
 * (a) custom resources of every rule kind (and labelled CA Secrets) that break the rules: each
 *     is decided by the webhook's own `validate` as a synthetic CREATE (objects created before
 *     the webhook was registered, or while it failed open); kinds whose CRD is not installed
 *     are skipped quietly;
 * (b) Pods that should have been injected but were not (opted in by their namespace or label,
 *     not opted out, no `ca-trust.dev/injected` annotation): created while the webhook was
 *     down or failing open, or before the namespace opted in;
 * (c) Pods whose `ca-trust.dev/injected` hash is not the current bundle's: their trust store
 *     was built from an older CA and needs a restart;
 * (d) Secrets that the objects of (a) reference and whose content breaks the rule that reads
 *     them, grouped per Secret with the referencing objects (written while the Secret guard
 *     was not installed, or while it failed open), and the injection CA ConfigMaps of
 *     opted-in namespaces whose key is missing or not a valid bundle.
 *
 * Pods are grouped by the workload that owns them (Pod → ReplicaSet → Deployment, Pod → Job →
 * CronJob, as far as the owners can be read; a Pod without an owner is its own group) with the
 * command that restarts it. LISTs are paginated (`--limit`, default 500), so memory is bounded
 * by a page and the findings; progress goes to stderr every `--progress-every` objects.
 *
 * Exit codes: 0 nothing found, 1 something found, 2 usage or API errors (the scan goes on past
 * an API error and reports what it could read).
 */

import type { KubeObject } from "../core/types.js";
import { buildDecisions, policySettings } from "../decisions.js";
import { podOptIn } from "../inject/pod.js";
import { INJECT_LABEL, INJECT_LABEL_VALUES, INJECTED_ANNOTATION } from "../inject/settings.js";
import {
  bundleBytes,
  bundleDigest,
  clusterTrustBundleDigest,
  describeSelection,
  type PodCaSource,
  podCaSource,
} from "../inject/source.js";
import { selectionKey } from "../kube/trust-sources.js";
import { analyseBundle } from "../pki/bundle.js";
import {
  checkReferencedSecret,
  type Referrer,
  referencesOf,
  requirementOf,
} from "../policy/references.js";
import type { Rule } from "../policy/rules.js";
import { createRequest } from "./admission.js";
import type { CliIo } from "./io.js";
import { type ApiResource, KubeReadError, type KubeReader, paginate } from "./kube.js";
import {
  type CommandSpec,
  integerArg,
  outputArg,
  type ParsedArgs,
  runCommand,
  stringArg,
} from "./options.js";
import { json, type ObjectVerdict, objectRef, plural, verdictLines, verdictOf } from "./output.js";
import { LiveClusterView } from "./view.js";

/** `scan`'s command line. */
export const SCAN_COMMAND: CommandSpec = {
  name: "scan",
  usage: "[options]",
  description: [
    "Reads the cluster (GET and paginated LIST only) and reports: existing objects of the rule",
    "kinds (and labelled CA Secrets) that the webhook would deny; Pods that should have been",
    "injected but were not; Pods injected with an older CA bundle than the current one. Pods are",
    "grouped by workload, with the command that restarts it; referenced Secrets and CA",
    "ConfigMaps whose content breaks the rule that reads them, grouped per Secret.",
    "Exit: 0 nothing found, 1 something found, 2 usage or API error.",
  ].join(" "),
  options: {
    output: {
      flags: "-o, --output <text|json>",
      help: "json: {objects, notInjected, staleBundle, brokenSecrets, brokenConfigMaps, errors, scanned}",
    },
    namespace: {
      flags: "-n, --namespace <NAME>",
      help: "scan one namespace (cluster-scoped kinds are then skipped) [default: all]",
    },
    kubeconfig: { flags: "--kubeconfig <FILE>", help: "the kubeconfig [default: as kubectl]" },
    context: {
      flags: "--context <NAME>",
      help: "the kubeconfig context [default: the current one]",
    },
    limit: { flags: "--limit <N>", help: "objects per LIST page [default: 500]" },
    "progress-every": {
      flags: "--progress-every <N>",
      help: "report progress on stderr every N objects read [default: 1000]",
    },
  },
};

/** A workload (or a bare Pod) that owns Pods. */
export interface Owner {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** Pods of one owner that need the same action. */
export interface PodGroup {
  readonly owner: Owner;
  readonly pods: string[];
  /** The command that makes the owner create new Pods, when there is one. */
  readonly command: string | null;
  readonly note: string | null;
}

/** Pods of one owner injected with another bundle than the current one. */
export interface StaleGroup extends PodGroup {
  /** The CA ConfigMap, `namespace/name`; null when the Pods mount ClusterTrustBundles. */
  readonly configMap: string | null;
  /** Where the Pods' CA comes from: `ConfigMap ns/name`, `ClusterTrustBundle "x"`. */
  readonly source: string;
  /** The hashes the Pods carry (`sha256:<hex>`). */
  readonly injected: string[];
  /** The current bundle's hash, or null when the source (or its key) is gone. */
  readonly current: string | null;
}

/** A referenced Secret whose content breaks the rule of the objects that read it. */
export interface BrokenSecret {
  /** `namespace/name`. */
  readonly secret: string;
  /** The field errors, against the Secret's own fields (`data[ca.crt]: Invalid value: ...`). */
  readonly problems: string[];
  /** The objects whose reference it breaks: `Kind namespace/name (field path)`. */
  readonly referrers: string[];
}

/** An injection CA ConfigMap of an opted-in namespace whose key is not a valid bundle. */
export interface BrokenConfigMap {
  /** `namespace/name`. */
  readonly configMap: string;
  readonly problems: string[];
}

/** What `scan -o json` prints. */
export interface ScanReport {
  /** Objects the webhook would deny, or allow only with warnings. */
  readonly objects: ObjectVerdict[];
  readonly notInjected: PodGroup[];
  readonly staleBundle: StaleGroup[];
  readonly brokenSecrets: BrokenSecret[];
  readonly brokenConfigMaps: BrokenConfigMap[];
  readonly errors: string[];
  readonly scanned: { objects: number; pods: number };
}

/** Runs `scan` with argv after the command word; resolves to the exit code. */
export function runScan(argv: readonly string[], io: CliIo): Promise<number> {
  return runCommand(SCAN_COMMAND, argv, io, (parsed) => scan(parsed, io));
}

async function scan({ values, settings }: ParsedArgs, io: CliIo): Promise<number> {
  const output = outputArg(values.output, ["text", "json"] as const, "text");
  const limit = integerArg("limit", values.limit, 500, 1);
  const every = integerArg("progress-every", values["progress-every"], 1000, 1);
  const namespace = stringArg(values.namespace);
  const { reader } = io.connect({
    kubeconfig: stringArg(values.kubeconfig),
    context: stringArg(values.context),
  });
  const flagSource = { namespace: settings.systemNamespace, name: settings.flagConfigMap };
  const live = new LiveClusterView(reader, flagSource);
  await context(`reading ConfigMap ${flagSource.namespace}/${flagSource.name}`, () =>
    live.loadFlags(),
  );
  await context(
    namespace === undefined ? "listing namespaces" : `reading namespace ${namespace}`,
    () => live.loadNamespaces(namespace === undefined ? "all" : [namespace], limit),
  );
  const decisions = buildDecisions(settings, live, { clock: io.clock });
  const report: ScanReport = {
    objects: [],
    notInjected: [],
    staleBundle: [],
    brokenSecrets: [],
    brokenConfigMaps: [],
    errors: [],
    scanned: { objects: 0, pods: 0 },
  };
  let read = 0;
  const progress = (what: string) => {
    read++;
    if (read % every === 0) io.stderr(`scan: ${read} objects read (${what})\n`);
  };

  // (a) Objects of the rule kinds, and (for d) who references which Secret.
  const policy = policySettings(settings);
  const referrers = new Map<string, Referrer[]>();
  for (const target of await listTargets(reader, policy.rules, namespace, report)) {
    try {
      for await (const item of paginate(target.list, limit)) {
        progress(target.what);
        report.scanned.objects++;
        const itemNamespace = item.metadata?.namespace ?? "";
        for (const reference of referencesOf(item, target.spec.gvk, policy)) {
          // A reference whose feature gate is off is ignored by its controller.
          if (reference.featureGate !== undefined && !live.featureFlag(reference.featureGate)) {
            continue;
          }
          const id = `${reference.namespace}/${reference.name}`;
          const list = referrers.get(id) ?? [];
          list.push({
            group: target.spec.gvk.group,
            kind: target.spec.gvk.kind,
            namespace: itemNamespace,
            name: item.metadata?.name ?? "",
            reference,
          });
          referrers.set(id, list);
        }
        const request = createRequest(
          item,
          target.spec,
          item.metadata?.namespace ?? "",
          "ca-trust-webhook scan",
        );
        const decision = await decisions.validate(request, { deadline: undefined });
        if (decision.kind === "deny" || decision.warnings.length > 0) {
          report.objects.push(
            verdictOf(item, request.namespace, decision, { file: null, line: null }),
          );
        }
      }
    } catch (error) {
      report.errors.push(`listing ${target.what}: ${describe(error)}`);
    }
  }

  // (b) and (c): Pods.
  const injection = settings.injection;
  const key = injection.customCa.configMapKey;
  // The current bundle's hash per source: null when it is gone, undefined when unreadable.
  const digests = new Map<string, Promise<string | null | undefined>>();
  const digestOf = (ns: string, source: PodCaSource): Promise<string | null | undefined> => {
    const id =
      source.kind === "configmap"
        ? `configmap/${ns}/${source.name}`
        : `ctb/${selectionKey(source.selection)}`;
    let digest = digests.get(id);
    if (digest === undefined) {
      // The bytes and hash the webhook records (inject/source.ts).
      digest =
        source.kind === "configmap"
          ? live.getConfigMap(ns, source.name).then((lookup) => {
              if (!lookup.found) return lookup.unavailable === undefined ? null : undefined;
              const bytes = bundleBytes(lookup.object, key);
              return bytes === undefined ? null : `sha256:${bundleDigest(bytes)}`;
            })
          : live.getClusterTrustBundles(source.selection).then((lookup) => {
              if (!lookup.found) return lookup.unavailable === undefined ? null : undefined;
              if (lookup.object.length === 0) return null;
              return `sha256:${clusterTrustBundleDigest(lookup.object)}`;
            });
      digests.set(id, digest);
    }
    return digest;
  };
  const owners = new OwnerResolver(reader);
  const notInjected = new Map<string, PodGroup>();
  const stale = new Map<string, StaleGroup>();
  try {
    for await (const pod of paginate((page) => reader.listPods(namespace, page), limit)) {
      progress("pods");
      report.scanned.pods++;
      if (!running(pod)) continue;
      const ns = pod.metadata?.namespace ?? "";
      const injected = pod.metadata?.annotations?.[INJECTED_ANNOTATION];
      if (injected === undefined) {
        if (podOptIn(pod.metadata?.labels, live.namespaceLabels(ns)) !== "inject") continue;
        const owner = await owners.ownerOf(pod);
        const id = ownerKey(owner);
        const group = notInjected.get(id) ?? { ...restart(owner, []), pods: [] };
        group.pods.push(pod.metadata?.name ?? "");
        notInjected.set(id, { ...group, ...restart(owner, group.pods) });
        continue;
      }
      const source = podCaSource(pod, injection);
      if (source === undefined) continue;
      const current = await digestOf(ns, source);
      if (current === injected || current === undefined) continue;
      const owner = await owners.ownerOf(pod);
      const described =
        source.kind === "configmap"
          ? `ConfigMap ${ns}/${source.name}`
          : describeSelection(source.selection);
      const id = `${ownerKey(owner)} ${described}`;
      const group: StaleGroup = stale.get(id) ?? {
        ...restart(owner, []),
        pods: [],
        configMap: source.kind === "configmap" ? `${ns}/${source.name}` : null,
        source: described,
        injected: [],
        current,
      };
      group.pods.push(pod.metadata?.name ?? "");
      if (!group.injected.includes(injected)) group.injected.push(injected);
      stale.set(id, { ...group, ...restart(owner, group.pods) });
    }
  } catch (error) {
    report.errors.push(`listing pods: ${describe(error)}`);
  }
  report.notInjected.push(...notInjected.values());
  report.staleBundle.push(...stale.values());

  // (d) Referenced Secrets and CA ConfigMaps whose content breaks the rule that reads them.
  const now = io.clock();
  for (const id of [...referrers.keys()].sort()) {
    const list = referrers.get(id) as Referrer[];
    const { namespace: secretNamespace, name } = (list[0] as Referrer).reference;
    const lookup = await live.getSecret(secretNamespace, name);
    // A missing Secret is reported with the objects that reference it (a); errors at the end.
    if (!lookup.found) continue;
    const problems: string[] = [];
    const broken: string[] = [];
    const judged = new Map<string, string[]>();
    for (const referrer of list) {
      const requirement = requirementOf(referrer.reference);
      let errors = judged.get(requirement);
      if (errors === undefined) {
        errors = checkReferencedSecret(lookup.object, referrer.reference, policy, now).errors.map(
          (e) => e.text,
        );
        judged.set(requirement, errors);
        for (const e of errors) if (!problems.includes(e)) problems.push(e);
      }
      if (errors.length > 0) {
        const { kind, namespace: ns, name: n, reference } = referrer;
        broken.push(`${objectRef(kind, ns, n)} (${reference.path})`);
      }
    }
    if (problems.length > 0) report.brokenSecrets.push({ secret: id, problems, referrers: broken });
  }
  if (injection.caSource?.kind !== "clustertrustbundle") {
    const name = injection.customCa.configMapName;
    for (const ns of live.namespaceNames()) {
      if (live.namespaceLabels(ns)?.[INJECT_LABEL] !== INJECT_LABEL_VALUES.namespaceEnabled) {
        continue;
      }
      const lookup = await live.getConfigMap(ns, name);
      if (!lookup.found) continue;
      const bytes = bundleBytes(lookup.object, key);
      const problems =
        bytes === undefined
          ? [`data[${key}]: Required value: the CA bundle key "${key}" is missing`]
          : analyseBundle(bytes, { now, expiringWithinDays: settings.expiringWithinDays })
              .findings.filter((f) => f.severity === "error")
              .map((f) => `data[${key}]: Invalid value: ${f.message}`);
      if (problems.length > 0)
        report.brokenConfigMaps.push({ configMap: `${ns}/${name}`, problems });
    }
  }
  report.errors.push(...live.errors.map((e) => `lookup failed: ${e}`), ...owners.errors);

  if (output === "json") io.stdout(json(report));
  else io.stdout(reportText(report));
  for (const error of report.errors) io.stderr(`error: ${error}\n`);
  if (report.errors.length > 0) return 2;
  const found =
    report.objects.some((o) => o.decision === "denied") ||
    report.notInjected.length > 0 ||
    report.staleBundle.length > 0 ||
    report.brokenSecrets.length > 0 ||
    report.brokenConfigMaps.length > 0;
  return found ? 1 : 0;
}

/** One LIST to decide: what it is, how to page through it, and the request it makes. */
interface ListTarget {
  readonly what: string;
  readonly list: Parameters<typeof paginate>[0];
  readonly spec: Parameters<typeof createRequest>[1];
}

/**
 * The LISTs of the rule table: every group/kind that discovery says is served (preferred
 * version, or the first served one the rule allows), and the labelled Secrets of each
 * labelled-Secret rule. Groups or kinds that are not installed are skipped quietly; discovery
 * failures are recorded as errors.
 */
async function listTargets(
  reader: KubeReader,
  rules: readonly Rule[],
  namespace: string | undefined,
  report: ScanReport,
): Promise<ListTarget[]> {
  let groups: ReadonlyMap<string, readonly string[]>;
  try {
    groups = await reader.apiGroups();
  } catch (error) {
    report.errors.push(`API discovery: ${describe(error)}`);
    groups = new Map();
  }
  const discovered = new Map<string, Promise<readonly ApiResource[] | undefined>>();
  const targets: ListTarget[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    if (rule.type === "labelledSecret") {
      const selector = `${rule.label}=${rule.value}`;
      if (seen.has(`secrets ${selector}`)) continue;
      seen.add(`secrets ${selector}`);
      targets.push({
        what: `secrets labelled ${selector}`,
        list: (page) => reader.listSecrets(namespace, selector, page),
        spec: {
          gvk: { group: "", version: "v1", kind: "Secret" },
          resource: "secrets",
          namespaced: true,
        },
      });
      continue;
    }
    for (const group of rule.apiGroups) {
      const served = groups.get(group);
      if (served === undefined) continue;
      const version = served.find((v) => rule.versions.includes("*") || rule.versions.includes(v));
      if (version === undefined) continue;
      const id = `${group}/${version}`;
      let resources = discovered.get(id);
      if (resources === undefined) {
        resources = reader.apiResources(group, version).catch((error: unknown) => {
          report.errors.push(`API discovery of ${id}: ${describe(error)}`);
          return undefined;
        });
        discovered.set(id, resources);
      }
      const available = (await resources) ?? [];
      for (const [kind, plural] of Object.entries(rule.kinds)) {
        const resource =
          available.find((r) => r.kind === kind && r.name === plural) ??
          available.find((r) => r.kind === kind && !r.name.includes("/"));
        if (resource === undefined) continue;
        if (namespace !== undefined && !resource.namespaced) continue;
        if (seen.has(`${resource.name}.${group}`)) continue;
        seen.add(`${resource.name}.${group}`);
        targets.push({
          what: `${resource.name}.${group}`,
          list: (page) =>
            reader.listCustom(
              {
                group,
                version,
                plural: resource.name,
                namespace: resource.namespaced ? namespace : undefined,
              },
              page,
            ),
          spec: {
            gvk: { group, version, kind },
            resource: resource.name,
            namespaced: resource.namespaced,
          },
        });
      }
    }
  }
  return targets;
}

/** A Pod that is running or will run: not finished, not being deleted, not a mirror Pod. */
function running(pod: KubeObject): boolean {
  const phase = (pod.status as { phase?: unknown } | undefined)?.phase;
  if (phase === "Succeeded" || phase === "Failed") return false;
  if (pod.metadata?.deletionTimestamp) return false;
  if (pod.metadata?.annotations?.["kubernetes.io/config.mirror"] !== undefined) return false;
  const spec = pod.spec as { os?: { name?: unknown }; containers?: unknown } | undefined;
  // Windows Pods and Pods without containers are never injected (inject/pod.ts).
  if (spec?.os?.name === "windows") return false;
  return Array.isArray(spec?.containers) && spec.containers.length > 0;
}

interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  controller?: boolean;
}

function controllerOf(object: KubeObject | undefined): OwnerReference | undefined {
  const refs = object?.metadata?.ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  const list = refs as OwnerReference[];
  return list.find((r) => r.controller === true) ?? list[0];
}

/**
 * Follows ownerReferences to the workload a person restarts: Pod → ReplicaSet → Deployment,
 * Pod → Job → CronJob; other owners (StatefulSet, DaemonSet, custom controllers) directly. An
 * owner that cannot be read stops the walk there (and the failure is reported unless it is a
 * 404 or 403: the workload is then shown at the level that could be read).
 */
class OwnerResolver {
  private readonly parents = new Map<string, Promise<OwnerReference | undefined>>();
  readonly errors: string[] = [];

  constructor(private readonly reader: KubeReader) {}

  async ownerOf(pod: KubeObject): Promise<Owner> {
    const namespace = pod.metadata?.namespace ?? "";
    const ref = controllerOf(pod);
    if (ref?.kind === undefined || ref.name === undefined) {
      return { kind: "Pod", namespace, name: pod.metadata?.name ?? "" };
    }
    const followed =
      (ref.kind === "ReplicaSet" && ref.apiVersion?.startsWith("apps/")) ||
      (ref.kind === "Job" && ref.apiVersion?.startsWith("batch/"));
    if (followed) {
      const parent = await this.parent(ref, namespace);
      if (parent?.kind !== undefined && parent.name !== undefined) {
        return { kind: parent.kind, namespace, name: parent.name };
      }
    }
    return { kind: ref.kind, namespace, name: ref.name };
  }

  private parent(ref: OwnerReference, namespace: string): Promise<OwnerReference | undefined> {
    const id = `${ref.kind}/${namespace}/${ref.name}`;
    let pending = this.parents.get(id);
    if (pending === undefined) {
      const apiVersion = ref.kind === "Job" ? "batch/v1" : "apps/v1";
      pending = this.reader
        .getOwner(apiVersion, ref.kind as string, namespace, ref.name as string)
        .then(controllerOf, (error: unknown) => {
          if (!(error instanceof KubeReadError && error.status === 403)) {
            this.errors.push(`reading ${ref.kind} ${namespace}/${ref.name}: ${describe(error)}`);
          }
          return undefined;
        });
      this.parents.set(id, pending);
    }
    return pending;
  }
}

function ownerKey(owner: Owner): string {
  return `${owner.kind}/${owner.namespace}/${owner.name}`;
}

/** The kinds `kubectl rollout restart` restarts. */
const ROLLOUT_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet"]);

/** How to get new Pods from an owner. */
function restart(
  owner: Owner,
  pods: readonly string[],
): { command: string | null; note: string | null; owner: Owner } {
  if (ROLLOUT_KINDS.has(owner.kind)) {
    return {
      owner,
      command: `kubectl rollout restart ${owner.kind.toLowerCase()}/${owner.name} -n ${owner.namespace}`,
      note: null,
    };
  }
  if (owner.kind === "Job" || owner.kind === "CronJob") {
    return {
      owner,
      command: null,
      note: "runs to completion; its next run gets the current state",
    };
  }
  const deletion = `kubectl delete pod ${pods.join(" ")} -n ${owner.namespace}`;
  if (owner.kind === "Pod") {
    return {
      owner,
      command: deletion,
      note: "a Pod without an owner is not re-created: apply its manifest again after deleting it",
    };
  }
  return { owner, command: deletion, note: `${owner.kind} ${owner.name} re-creates them` };
}

/** The report for people. */
function reportText(report: ScanReport): string {
  const lines: string[] = [];
  for (const verdict of report.objects) lines.push(...verdictLines(verdict));
  const group = (g: PodGroup, extra = ""): void => {
    const pods = `${plural(g.pods.length, "Pod")}: ${g.pods.join(", ")}`;
    const ref = objectRef(g.owner.kind, g.owner.namespace, g.owner.name);
    lines.push(`  ${ref} (${pods}${extra})${g.command === null ? "" : `: ${g.command}`}`);
    if (g.note !== null) lines.push(`    ${g.note}`);
  };
  if (report.notInjected.length > 0) {
    lines.push(
      "Pods that should be injected but are not (created while the webhook was down or failing open, or before their namespace opted in):",
    );
    for (const g of report.notInjected) group(g);
  }
  if (report.staleBundle.length > 0) {
    lines.push("Pods injected with an older CA bundle (restart them to trust the current one):");
    for (const g of report.staleBundle) {
      const now = g.current === null ? `${g.source} is gone` : `now ${short(g.current)}`;
      group(g, `; injected ${g.injected.map(short).join(", ")}, ${now}`);
    }
  }
  if (report.brokenSecrets.length > 0) {
    lines.push(
      "Referenced Secrets whose content breaks the rule of the objects that read them (written while the guard was not installed or failed open):",
    );
    for (const b of report.brokenSecrets) {
      lines.push(`  Secret ${b.secret}: ${b.problems.join("; ")}`);
      lines.push(`    the CA of ${b.referrers.join(", ")}`);
    }
  }
  if (report.brokenConfigMaps.length > 0) {
    lines.push("CA ConfigMaps of opted-in namespaces that new Pods would be denied on:");
    for (const b of report.brokenConfigMaps) {
      lines.push(`  ConfigMap ${b.configMap}: ${b.problems.join("; ")}`);
    }
  }
  const denied = report.objects.filter((o) => o.decision === "denied").length;
  const notInjected = report.notInjected.reduce((n, g) => n + g.pods.length, 0);
  const staleBundle = report.staleBundle.reduce((n, g) => n + g.pods.length, 0);
  const broken = report.brokenSecrets.length + report.brokenConfigMaps.length;
  const scanned = `${plural(report.scanned.objects, "object")} and ${plural(report.scanned.pods, "Pod")} read`;
  lines.push(
    denied + notInjected + staleBundle + broken === 0
      ? `nothing found (${scanned})`
      : `${plural(denied, "object")} breaking the rules, ${plural(notInjected, "Pod")} not injected, ${plural(staleBundle, "Pod")} with an older bundle, ${plural(report.brokenSecrets.length, "referenced Secret")} and ${plural(report.brokenConfigMaps.length, "CA ConfigMap")} broken (${scanned})`,
  );
  return `${lines.join("\n")}\n`;
}

function short(hash: string): string {
  return hash.length > 19 ? `${hash.slice(0, 19)}…` : hash;
}

async function context<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new KubeReadError(
      `${what}: ${describe(error)}`,
      error instanceof KubeReadError ? error.status : undefined,
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
