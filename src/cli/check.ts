/**
 * `ca-trust-webhook check -f PATH...`: the webhook's verdicts before anything is applied. Every
 * object the webhook is registered for (the rule table's kinds, labelled CA Secrets, Pods) is
 * sent, as a synthetic CREATE, through the same decision functions the server runs
 * (`buildDecisions`), against a cluster view made of the Secrets, ConfigMaps and Namespaces of
 * the same input (and, with `--cluster`, the live cluster for what the input lacks).
 *
 * Exit codes (those of every offline command): 0 all allowed, 1 something denied, 2 usage or
 * I/O error (including a cluster lookup that failed with `--cluster`).
 */
import type { Decision } from "../core/types.js";
import { buildDecisions, policySettings } from "../decisions.js";
import { podOptIn } from "../inject/pod.js";
import { MemoryClusterView } from "../kube/memory.js";
import { clusterTrustBundleOf, trustManagerBundleOf } from "../kube/trust-sources.js";
import { createRequest, targetOf } from "./admission.js";
import { type Manifest, manifestsOf, readSources } from "./input.js";
import type { CliIo } from "./io.js";
import { UsageError } from "./io.js";
import {
  type CommandSpec,
  featureFlagArgs,
  fileArgs,
  outputArg,
  type ParsedArgs,
  runCommand,
  stringArg,
} from "./options.js";
import { json, type ObjectVerdict, plural, verdictLines, verdictOf } from "./output.js";
import {
  configMapObject,
  connectorsConfigFlags,
  LiveClusterView,
  layeredView,
  namespaceLabelsOf,
  secretObject,
} from "./view.js";

/** `check`'s command line. */
export const CHECK_COMMAND: CommandSpec = {
  name: "check",
  usage: "-f PATH... [options]",
  description: [
    "Decides every object the webhook would be asked about (the CA-reference kinds, labelled CA",
    "Secrets, Pods) as if it were created now, and prints one verdict per object. Secrets,",
    "ConfigMaps, Namespaces, ClusterTrustBundles and trust-manager Bundles in the input are the",
    "cluster the decisions read; a Connectors operator ConnectorsConfig in the input (or, with",
    "--cluster, in the cluster) sets the feature flags its operator copies into the flag ConfigMap.",
    "Exit: 0 all allowed, 1 something denied, 2 usage or I/O error.",
  ].join(" "),
  options: {
    filename: {
      flags: "-f, --filename <PATH>",
      help: "file, directory (recursive: *.yaml, *.yml, *.json) or - for stdin; repeatable",
      multiple: true,
    },
    output: {
      flags: "-o, --output <text|json>",
      help: "json: an array of {kind, apiVersion, namespace, name, file, line, decision, message, warnings}",
    },
    namespace: {
      flags: "-n, --namespace <NAME>",
      help: 'namespace of objects without one [default: the kubeconfig context\'s, or "default"]',
    },
    cluster: {
      flags: "--cluster",
      help: "read Secrets, ConfigMaps, Namespaces, ClusterTrustBundles and Bundles missing from the input from the cluster (GET and LIST only)",
    },
    kubeconfig: {
      flags: "--kubeconfig <FILE>",
      help: "with --cluster: the kubeconfig [default: as kubectl]",
    },
    context: {
      flags: "--context <NAME>",
      help: "with --cluster: the kubeconfig context [default: the current one]",
    },
    "feature-flag": {
      flags: "--feature-flag <NAME=true|false>",
      help: "set a flag of the flag ConfigMap (e.g. enable-custom-ca-certs=true); repeatable",
      multiple: true,
    },
  },
};

/** Runs `check` with argv after the command word; resolves to the exit code. */
export function runCheck(argv: readonly string[], io: CliIo): Promise<number> {
  return runCommand(CHECK_COMMAND, argv, io, (parsed) => check(parsed, io));
}

async function check({ values, settings }: ParsedArgs, io: CliIo): Promise<number> {
  const files = fileArgs(values.filename);
  if (files.length === 0) throw new UsageError("-f: at least one file, directory or - is required");
  const output = outputArg(values.output, ["text", "json"] as const, "text");
  const flagOverrides = featureFlagArgs(values["feature-flag"]);
  const manifests = manifestsOf(await readSources(files, io.readStdin));

  const connection = values.cluster
    ? io.connect({
        kubeconfig: stringArg(values.kubeconfig),
        context: stringArg(values.context),
      })
    : undefined;
  const defaultNamespace = stringArg(values.namespace) ?? connection?.namespace ?? "default";
  const rules = policySettings(settings).rules;
  const flagSource = { namespace: settings.systemNamespace, name: settings.flagConfigMap };

  const input = inputView(manifests, defaultNamespace, flagSource);
  const inputConfig = manifests
    .map((m) => connectorsConfigFlags(m.object))
    .find((flags) => flags !== undefined);
  let clusterConfig: Awaited<ReturnType<LiveClusterView["loadConnectorsConfig"]>>;
  const podNamespaces = new Set<string>();
  for (const m of manifests) {
    if (targetOf(m.object, rules).decide === "mutate") {
      podNamespaces.add(m.object.metadata?.namespace || defaultNamespace);
    }
  }
  let live: LiveClusterView | undefined;
  if (connection !== undefined) {
    live = new LiveClusterView(connection.reader, flagSource);
    if (!input.hasFlags && inputConfig === undefined) {
      await live.loadFlags();
      clusterConfig = await live.loadConnectorsConfig();
    }
    await live.loadNamespaces([...podNamespaces].filter((ns) => !input.view.namespaceLabels(ns)));
  }
  const view = layeredView({
    input: input.view,
    inputHasFlags: input.hasFlags,
    cluster: live,
    flagOverrides,
    connectorsConfigFlags: { input: inputConfig, cluster: clusterConfig?.flags },
    // A namespace found nowhere is taken as unlabelled (not opted in), with a note below.
    unknownNamespace: () => ({}),
  });
  const decisions = buildDecisions(settings, view, { clock: io.clock });

  const verdicts: ObjectVerdict[] = [];
  let ignored = 0;
  for (const manifest of manifests) {
    const target = targetOf(manifest.object, rules);
    if (target.decide === "context") continue;
    if (target.decide === "none") {
      ignored++;
      continue;
    }
    const spec =
      target.decide === "validate"
        ? target
        : { gvk: target.gvk, resource: "pods", namespaced: true };
    const request = createRequest(
      manifest.object,
      spec,
      defaultNamespace,
      "ca-trust-webhook check",
    );
    const context = { deadline: undefined };
    let decision: Decision =
      target.decide === "validate"
        ? await decisions.validate(request, context)
        : await decisions.mutate(request, context);
    if (target.decide === "mutate") {
      decision = withNamespaceNote(decision, manifest, request.namespace ?? "", input.view, live);
    }
    verdicts.push(
      verdictOf(request.object ?? manifest.object, request.namespace, decision, {
        file: manifest.source.name,
        line: manifest.line,
      }),
    );
  }

  if (output === "json") io.stdout(json(verdicts));
  else
    io.stdout(
      verdicts
        .flatMap(verdictLines)
        .map((line) => `${line}\n`)
        .join(""),
    );
  if (ignored > 0) io.stderr(`${plural(ignored, "object")} of unsupported kinds ignored\n`);
  if (verdicts.length === 0) io.stderr("no objects of the kinds the webhook decides\n");
  if (live !== undefined && live.errors.length > 0) {
    for (const error of live.errors) io.stderr(`error: cluster lookup failed: ${error}\n`);
    return 2;
  }
  return verdicts.some((v) => v.decision === "denied") ? 1 : 0;
}

/** The input's Secrets, ConfigMaps and Namespaces as a view, and whether it holds the flags. */
export function inputView(
  manifests: readonly Manifest[],
  defaultNamespace: string,
  flagSource: { namespace: string; name: string },
): { view: MemoryClusterView; hasFlags: boolean } {
  const view = new MemoryClusterView(flagSource);
  let hasFlags = false;
  for (const { object } of manifests) {
    if (object.apiVersion !== "v1") {
      // The CA sources of injection: ClusterTrustBundles, trust-manager Bundles.
      const bundle = clusterTrustBundleOf(object);
      if (bundle !== undefined) view.addClusterTrustBundle(bundle);
      const trustManager = trustManagerBundleOf(object);
      if (trustManager !== undefined) view.addTrustManagerBundle(trustManager);
      continue;
    }
    const namespace = object.metadata?.namespace || defaultNamespace;
    if (object.kind === "Secret") view.addSecret(secretObject(object, namespace));
    else if (object.kind === "ConfigMap") {
      view.addConfigMap(configMapObject(object, namespace));
      if (namespace === flagSource.namespace && object.metadata?.name === flagSource.name) {
        hasFlags = true;
      }
    } else if (object.kind === "Namespace") {
      view.addNamespace(object.metadata?.name ?? "", namespaceLabelsOf(object));
    }
  }
  return { view, hasFlags };
}

/**
 * A Pod whose namespace is in neither the input nor the cluster was decided as not opted in;
 * say so, since the webhook would use the namespace's real labels.
 */
function withNamespaceNote(
  decision: Decision,
  manifest: Manifest,
  namespace: string,
  input: MemoryClusterView,
  live: LiveClusterView | undefined,
): Decision {
  const known = input.namespaceLabels(namespace) ?? live?.namespaceLabels(namespace);
  if (known !== undefined || decision.kind !== "allow") return decision;
  if (podOptIn(manifest.object.metadata?.labels, undefined) !== "not-opted-in") return decision;
  const where =
    live === undefined ? "the input (add it, or use --cluster)" : "the input or the cluster";
  return {
    ...decision,
    warnings: [
      ...decision.warnings,
      `namespace "${namespace}" is not in ${where}: taken as not opted in to CA injection`,
    ],
  };
}
