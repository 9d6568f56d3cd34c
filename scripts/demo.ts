/**
 * `npm run demo`: a real local control plane (etcd + kube-apiserver, built once by
 * scripts/build-controlplane.sh), our webhook (the built CLI as a child process) registered
 * with it, and every example in examples/ applied with the real kubectl, printing what kubectl
 * answered: `Warning:` lines, `admission webhook "..." denied the request: ...` errors and all.
 * Then it keeps running so the reader can try things, until Ctrl-C (`--once`: it stops at the
 * end and exits 0).
 *
 * The demo is a list of sections (`SECTIONS`), one function each. A new family of examples
 * (injection, once `POST /mutate` injects) is one more function that calls `applyExamples`
 * with its directory, added to that list. The last one runs the real trust-manager (built once,
 * like the control plane) to distribute the CA: label, rotate, scan, unlabel.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { resolveBinaries } from "./harness/binaries.js";
import { handleInterrupts, reapOrphans } from "./harness/children.js";
import {
  type KubectlResult,
  type OwnedControlPlane,
  startControlPlane,
} from "./harness/controlplane.js";
import { installCrds } from "./harness/crds.js";
import {
  exampleComment,
  exampleConfig,
  exampleFiles,
  exampleObjects,
  examplePath,
} from "./harness/examples.js";
import { restrictedPod, toYaml } from "./harness/manifests.js";
import { INJECT_ENABLED, RESTRICTED } from "./harness/namespaces.js";
import { EXAMPLES_DIR, REPO_ROOT } from "./harness/paths.js";
import { caCertificatePem } from "./harness/pki.js";
import { pollUntil } from "./harness/poll.js";
import {
  installTrustManagerCrds,
  resolveTrustManager,
  startTrustManager,
} from "./harness/trust-manager.js";
import { applyVerdict, summarizeVerdict } from "./harness/verdicts.js";
import {
  metricSum,
  registerWebhooks,
  SERVER_ENTRY,
  startWebhook,
  type WebhookServer,
  waitForWebhookCalled,
} from "./harness/webhook.js";

/** What every section works with. */
interface Demo {
  cp: OwnedControlPlane;
  server: WebhookServer;
  /** Files applied so far (relative to examples/) and the one-line verdict of each. */
  verdicts: Map<string, string>;
  /** What a section started and the end of the demo stops (trust-manager). */
  cleanups: (() => Promise<void>)[];
}

/** One part of the demo, printed under its own banner. */
interface Section {
  title: string;
  run(demo: Demo): Promise<void>;
}

/** The flag ConfigMap of the Connectors system (examples/connectors/connectors-config.yaml). */
const FLAG = {
  namespace: "connectors-system",
  name: "connectors-config",
  key: "enable-custom-ca-certs",
} as const;

/** The Connector the feature-flag section applies with the flag off (denied while it is on). */
const FLAG_EXAMPLE = "connectors/broken-pem-connector.yaml";

/** The example the dry-run section sends (a denial, so nothing of it is stored either way). */
const DRY_RUN_EXAMPLE = "openchoreo/invalid-cross-namespace-workflowplane.yaml";

const SECTIONS: readonly Section[] = [
  {
    title: "Namespaces and the Connectors feature flag",
    run: async (demo) => {
      await applyExamples(demo, [
        "namespaces.yaml",
        "injection/namespace.yaml",
        "connectors/connectors-config.yaml",
      ]);
      // The webhook watches the flag ConfigMap; wait until its cache holds it, so the
      // Connector verdicts below are the flag-on ones.
      await pollUntil(
        async () =>
          metricSum(await demo.server.metrics(), "ca_trust_webhook_cache_objects", {
            cache: "flag-configmap",
          }) === 1
            ? true
            : undefined,
        { what: "the webhook's flag ConfigMap cache", timeoutMs: 10_000 },
      );
    },
  },
  {
    title: "Connectors (connectors.alauda.io) and their global CA Secrets",
    run: (demo) =>
      applyExamples(
        demo,
        familyOrder("connectors", [
          "connectors/global-ca-secret.yaml",
          "connectors/global-ca-secret-outside-system-namespace.yaml",
          "connectors/global-ca-secret-broken-pem.yaml",
          "connectors/global-ca-secret-with-private-key.yaml",
          "connectors/valid-connector.yaml",
          "connectors/how-to-custom-ca.yaml",
          "connectors/missing-secret-connector.yaml",
          "connectors/invalid-pem-connector.yaml",
          "connectors/broken-pem-connector.yaml",
          "connectors/invalid-cross-namespace-connector.yaml",
        ]),
      ),
  },
  {
    title: "OpenChoreo planes (openchoreo.dev, core.openchoreo.dev)",
    run: (demo) =>
      applyExamples(
        demo,
        familyOrder("openchoreo", [
          "openchoreo/valid-dataplane.yaml",
          "openchoreo/legacy-buildplane-secretref.yaml",
          "openchoreo/valid-clusterdataplane-inline.yaml",
          "openchoreo/valid-clusterworkflowplane.yaml",
          "openchoreo/k3d-readme-cluster-planes.yaml",
          "openchoreo/external-ca-guide-dataplane-inline.yaml",
          "openchoreo/external-ca-guide-dataplane-secret.yaml",
          "openchoreo/invalid-cross-namespace-workflowplane.yaml",
          "openchoreo/invalid-observabilityplane-not-pem.yaml",
          "openchoreo/invalid-clusterdataplane-no-namespace.yaml",
          "openchoreo/invalid-dataplane-value-and-ref.yaml",
        ]),
      ),
  },
  {
    title: "kcp operator (operator.kcp.io)",
    run: (demo) =>
      applyExamples(
        demo,
        familyOrder("kcp", [
          "kcp/valid-frontproxy.yaml",
          "kcp/valid-rootshard.yaml",
          "kcp/pki-client-ca-bundle.yaml",
          "kcp/invalid-shard-missing-tls-crt.yaml",
        ]),
      ),
  },
  {
    title: "Server-side dry run: the same verdict, nothing stored",
    run: async (demo) => {
      note(`${DRY_RUN_EXAMPLE} again, with --dry-run=server:`);
      await kubectlShown(demo, ["apply", "--dry-run=server", "-f", exampleArg(DRY_RUN_EXAMPLE)]);
    },
  },
  { title: `Feature flag ${FLAG.key} off, then on again`, run: flipFeatureFlag },
  {
    title: "CA injection into opted-in Pods (PodSecurity restricted namespace)",
    run: async (demo) => {
      await applyExamples(
        demo,
        familyOrder("injection", [
          "injection/ca-configmap.yaml",
          "injection/pod.yaml",
          "injection/pod-opt-out.yaml",
          "injection/pod-without-configmap.yaml",
        ]),
      );
      await showInjectedPod(demo, "injection/pod.yaml");
    },
  },
  { title: "Distributing the CA with trust-manager (the real controller)", run: trustManagerFlow },
];

/** trust-manager's namespace for Bundle sources in the demo, and the namespace it serves. */
const TRUST_NAMESPACE = "cert-manager";
const TRUST_DEMO_NAMESPACE = "team-trust";

/**
 * The documented setup (README "Distributing the CA"): trust-manager runs against this
 * control plane, the Bundle of deploy/components/trust-manager-bundle is applied as shipped,
 * and a namespace is labelled: the ConfigMap arrives and a Pod is injected; the CA in the
 * Bundle's source rotates: the ConfigMap follows, a new Pod gets the new hash and `scan` lists
 * the older one with its restart command; the namespace is unlabelled: the ConfigMap goes and a
 * Pod that opts in by label is denied, naming the Bundle.
 */
async function trustManagerFlow(demo: Demo): Promise<void> {
  const { cp } = demo;
  note("trust-manager (cert-manager project), built once from the Go module proxy, then cached:");
  const build = await resolveTrustManager(cp.binDir);
  await installTrustManagerCrds(cp, build);
  const rootSecret = async (commonName: string) =>
    toYaml({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "ca-trust-root", namespace: TRUST_NAMESPACE },
      stringData: { "ca.crt": await caCertificatePem(commonName) },
    });
  await cp.kubectl(["create", "namespace", TRUST_NAMESPACE]);
  await cp.kubectl(["apply", "-f", "-"], { input: await rootSecret("Example Corp Root CA 2026") });
  const trustManager = await startTrustManager(cp, build, { trustNamespace: TRUST_NAMESPACE });
  demo.cleanups.push(() => trustManager.stop());
  note(`trust-manager running (pid ${trustManager.child.pid}, trust namespace ${TRUST_NAMESPACE})`);
  // Pods opted in by their own label in any namespace reach the webhook too (as with the
  // shipped registration), so the last step's denial is the webhook's.
  const registration = await registerWebhooks(cp, {
    name: "ca-trust-webhook",
    url: demo.server.url,
    caBundle: demo.server.caPem,
    mutatingNamespaceSelector: {
      matchExpressions: [
        { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system"] },
      ],
    },
  });
  await waitForWebhookCalled(cp, demo.server, { namespace: "default", registration });

  heading("the shipped Bundle: deploy/components/trust-manager-bundle/bundle.yaml");
  await kubectlShown(demo, ["apply", "-f", "deploy/components/trust-manager-bundle/bundle.yaml"]);
  heading(
    `label namespace ${TRUST_DEMO_NAMESPACE} for injection: trust-manager writes the ConfigMap`,
  );
  await cp.kubectl(["apply", "-f", "-"], {
    input: toYaml(
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: TRUST_DEMO_NAMESPACE, labels: { ...RESTRICTED } },
      },
      {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "default", namespace: TRUST_DEMO_NAMESPACE },
      },
    ),
  });
  await kubectlShown(demo, [
    "label",
    "namespace",
    TRUST_DEMO_NAMESPACE,
    "ca-trust.dev/inject=enabled",
  ]);
  const bundleHash = async () => {
    const cm = await cp.kubectl(
      [
        "get",
        "configmap",
        "ca-trust-bundle",
        "-n",
        TRUST_DEMO_NAMESPACE,
        "-o",
        "jsonpath={.data.ca-bundle\\.crt}",
      ],
      { allowFail: true },
    );
    return cm.code === 0 && cm.stdout !== ""
      ? `sha256:${createHash("sha256").update(cm.stdout).digest("hex")}`
      : undefined;
  };
  const first = await pollUntil(bundleHash, {
    what: "trust-manager's ConfigMap",
    timeoutMs: 60_000,
  });
  await kubectlShown(demo, [
    "get",
    "configmap",
    "-n",
    TRUST_DEMO_NAMESPACE,
    "-l",
    "trust.cert-manager.io/bundle",
  ]);
  note(`the bundle's hash: ${first}`);
  await injectedPodWhenHash(demo, "web-1", first);

  heading("rotate the CA in the Bundle's source: trust-manager rewrites every copy");
  await cp.kubectl(["apply", "-f", "-"], { input: await rootSecret("Example Corp Root CA 2027") });
  note("$ kubectl apply -f ca-trust-root.yaml   # the Secret in cert-manager, with the new ca.crt");
  const second = await pollUntil(
    async () => {
      const hash = await bundleHash();
      return hash !== undefined && hash !== first ? hash : undefined;
    },
    { what: "trust-manager to rewrite the ConfigMap", timeoutMs: 60_000 },
  );
  note(
    `the ConfigMap now hashes ${second}; a new Pod gets it, the running one keeps the old store:`,
  );
  await injectedPodWhenHash(demo, "web-2", second);
  heading(`ca-trust-webhook scan -n ${TRUST_DEMO_NAMESPACE}`);
  process.stdout.write(await scanText(cp.kubeconfigPath));

  heading(
    `unlabel ${TRUST_DEMO_NAMESPACE}: trust-manager removes the ConfigMap, injection there stops`,
  );
  await kubectlShown(demo, ["label", "namespace", TRUST_DEMO_NAMESPACE, "ca-trust.dev/inject-"]);
  await pollUntil(async () => ((await bundleHash()) === undefined ? true : undefined), {
    what: "trust-manager to delete the ConfigMap",
    timeoutMs: 60_000,
  });
  const optedIn = podManifest("opted-in", { "ca-trust.dev/inject": "true" });
  await pollUntil(
    async () => {
      const probe = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
        input: optedIn,
        allowFail: true,
      });
      return probe.stderr.includes("does not select namespace") ? true : undefined;
    },
    { what: "the webhook to see the label and the ConfigMap go", timeoutMs: 30_000 },
  );
  note("a Pod that opts in by its own label is denied, and told which Bundle and why:");
  await kubectlShownInput(demo, ["apply", "-f", "-"], optedIn);
}

/** A restricted Pod of the trust-manager section, as YAML. */
function podManifest(name: string, labels: Record<string, string> = {}): string {
  return toYaml(restrictedPod(name, TRUST_DEMO_NAMESPACE, labels));
}

/** Creates the Pod once the webhook's ConfigMap cache has `hash`, and shows its annotation. */
async function injectedPodWhenHash(demo: Demo, name: string, hash: string): Promise<void> {
  await pollUntil(
    async () => {
      const probe = await demo.cp.kubectl(
        ["create", "--dry-run=server", "-o", "jsonpath={.metadata.annotations}", "-f", "-"],
        {
          input: podManifest(name),
          allowFail: true,
        },
      );
      return probe.stdout.includes(hash) ? true : undefined;
    },
    { what: "the webhook to see the ConfigMap", timeoutMs: 30_000 },
  );
  await kubectlShownInput(demo, ["apply", "-f", "-"], podManifest(name));
  await kubectlShown(demo, [
    "get",
    "pod",
    name,
    "-n",
    TRUST_DEMO_NAMESPACE,
    "-o",
    'jsonpath={"ca-trust.dev/injected: "}{.metadata.annotations.ca-trust\\.dev/injected}{"\\n"}',
  ]);
}

/** `ca-trust-webhook scan` (the built CLI) on the trust-manager section's namespace. */
function scanText(kubeconfig: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [SERVER_ENTRY, "scan", "-n", TRUST_DEMO_NAMESPACE, "--kubeconfig", kubeconfig],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve(`${out}(exit code ${code})\n`));
  });
}

/** Prints what the apiserver stored for an injected Pod: init container, mounts, env, hash. */
async function showInjectedPod(demo: Demo, file: string): Promise<void> {
  const pod = exampleObjects(file).find((o) => o.kind === "Pod");
  const metadata = pod?.metadata as { name: string; namespace: string } | undefined;
  if (metadata === undefined) return;
  heading(`the stored Pod ${metadata.namespace}/${metadata.name}, as injected`);
  const jsonpath = [
    '{"annotation  ca-trust.dev/injected: "}{.metadata.annotations.ca-trust\\.dev/injected}{"\\n"}',
    '{range .spec.initContainers[*]}{"initContainer "}{.name}{"  image "}{.image}{"  securityContext "}{.securityContext}{"\\n"}{end}',
    '{range .spec.containers[*]}{"container     "}{.name}{"  mounts "}{.volumeMounts}{"\\n"}{"              env "}{.env}{"\\n"}{end}',
    '{range .spec.volumes[*]}{"volume        "}{.name}{"  "}{.emptyDir}{.configMap}{"\\n"}{end}',
  ].join("");
  await kubectlShown(demo, [
    "get",
    "pod",
    metadata.name,
    "-n",
    metadata.namespace,
    "-o",
    `jsonpath=${jsonpath}`,
  ]);
}

/**
 * The files of a family in the order given, then any other file of that family not listed
 * (so that a new example is shown even before someone places it).
 */
function familyOrder(family: string, first: readonly string[]): string[] {
  const rest = exampleFiles(family).filter((file) => !first.includes(file));
  return [...first, ...rest];
}

/**
 * Applies each example with kubectl, under a header saying what it shows and expects. An
 * example with a `# Config:` line goes through a second webhook started with those options,
 * registered in place of the demo's for that one apply.
 */
async function applyExamples(demo: Demo, files: readonly string[]): Promise<void> {
  for (const file of files) {
    if (demo.verdicts.has(file)) continue; // applied in an earlier section
    const { what, verdict } = exampleComment(file);
    heading(file);
    if (what) note(what);
    if (verdict) note(`expected: ${verdict}`);
    const options = exampleConfig(file);
    const apply = () => kubectlShown(demo, ["apply", "-f", exampleArg(file)]);
    const result = options.length === 0 ? await apply() : await withOptions(demo, options, apply);
    demo.verdicts.set(file, summarizeVerdict(applyVerdict(result)));
  }
}

/** Runs `work` with a webhook started with `options` registered instead of the demo's. */
async function withOptions<T>(
  demo: Demo,
  options: readonly string[],
  work: () => Promise<T>,
): Promise<T> {
  note(`through a second webhook started with ${options.join(" ")}`);
  const configured = await startWebhook(demo.cp, { extraArgs: options });
  try {
    const registration = await registerWebhooks(demo.cp, {
      name: "ca-trust-webhook-configured",
      url: configured.url,
      caBundle: configured.caPem,
      failurePolicy: "Fail",
      mutating: false,
    });
    await waitForWebhookCalled(demo.cp, configured, { namespace: "default", registration });
    return await work();
  } finally {
    await configured.stop();
    await registerWebhooks(demo.cp, {
      name: "ca-trust-webhook",
      url: demo.server.url,
      caBundle: demo.server.caPem,
      failurePolicy: "Fail",
      mutatingNamespaceSelector: { matchLabels: { ...INJECT_ENABLED } },
    });
  }
}

/**
 * The feature flag is read at request time from a watched ConfigMap: turning it off makes a
 * broken Connector acceptable (with a warning that its CA reference is ignored), without
 * restarting the webhook. Afterwards the flag is on again and that Connector is removed, so the
 * cluster is as examples/README.md describes it.
 */
async function flipFeatureFlag(demo: Demo): Promise<void> {
  const connector = exampleObjects(FLAG_EXAMPLE).find((o) => o.kind === "Connector");
  if (connector === undefined) throw new Error(`${FLAG_EXAMPLE} has no Connector`);
  const metadata = connector.metadata as { name: string; namespace: string };
  const setFlag = async (value: "true" | "false") => {
    const patch = JSON.stringify({ data: { [FLAG.key]: value } });
    await kubectlShown(demo, [
      "patch",
      "configmap",
      FLAG.name,
      "-n",
      FLAG.namespace,
      "--type=merge",
      "-p",
      patch,
    ]);
    const t0 = Date.now();
    // Until the webhook's answer for the Connector changes (dry run: nothing is stored).
    await pollUntil(
      async () => {
        const probe = await demo.cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
          input: toYaml(connector),
          allowFail: true,
        });
        return (probe.code === 0) === (value === "false") ? true : undefined;
      },
      { what: `the webhook to see ${FLAG.key}=${value}`, timeoutMs: 30_000, intervalMs: 100 },
    );
    note(`the webhook saw the change after ${Date.now() - t0} ms (it watches the ConfigMap)`);
  };

  await setFlag("false");
  heading(`${FLAG_EXAMPLE} with the flag off`);
  await kubectlShown(demo, ["apply", "-f", exampleArg(FLAG_EXAMPLE)]);
  await setFlag("true");
  note("and remove the Connector the flag let through, so the cluster matches the examples:");
  await kubectlShown(demo, [
    "delete",
    "connectors.connectors.alauda.io",
    metadata.name,
    "-n",
    metadata.namespace,
  ]);
}

/** An example as kubectl is given it: relative to the repository (the demo runs there). */
function exampleArg(file: string): string {
  return relative(REPO_ROOT, examplePath(file));
}

/** Like kubectlShown, with a manifest on stdin (shown first). */
async function kubectlShownInput(
  demo: Demo,
  args: readonly string[],
  input: string,
): Promise<KubectlResult> {
  process.stdout.write(
    `${style("bold", `$ kubectl ${args.map(shellQuote).join(" ")} <<EOF`)}\n${input}EOF\n`,
  );
  const result = await demo.cp.kubectl(args, { allowFail: true, combined: true, input });
  process.stdout.write(result.stdout.endsWith("\n") ? result.stdout : `${result.stdout}\n`);
  if (result.code !== 0) note(`(kubectl exited ${result.code})`);
  return result;
}

/** Prints `$ kubectl ...`, runs it and prints what it wrote, as a terminal would show it. */
async function kubectlShown(demo: Demo, args: readonly string[]): Promise<KubectlResult> {
  process.stdout.write(`${style("bold", `$ kubectl ${args.map(shellQuote).join(" ")}`)}\n`);
  const result = await demo.cp.kubectl(args, { allowFail: true, combined: true });
  process.stdout.write(result.stdout.endsWith("\n") ? result.stdout : `${result.stdout}\n`);
  if (result.code !== 0) note(`(kubectl exited ${result.code})`);
  return result;
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

const COLOR = process.stdout.isTTY === true && !process.env.NO_COLOR;
const CODES = { bold: [1, 22], dim: [2, 22], cyan: [36, 39], green: [32, 39], red: [31, 39] };

function style(name: keyof typeof CODES, text: string): string {
  const [on, off] = CODES[name];
  return COLOR ? `\u001b[${on}m${text}\u001b[${off}m` : text;
}

function banner(title: string): void {
  const line = "=".repeat(Math.max(title.length + 4, 72));
  process.stdout.write(
    `\n${style("cyan", line)}\n${style("bold", `  ${title}`)}\n${style("cyan", line)}\n`,
  );
}

function heading(text: string): void {
  process.stdout.write(`\n${style("bold", `--- ${text}`)}\n`);
}

function note(text: string): void {
  process.stdout.write(`${style("dim", wrap(text, 100))}\n`);
}

/** Wraps prose at spaces (kubectl's own output is never wrapped: it is shown as is). */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line !== "" && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === "" ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return lines.join("\n");
}

/** Prints one line per applied example: file and verdict, as read from kubectl's output. */
function printSummary(demo: Demo): void {
  banner("Summary: what kubectl answered for each example");
  const width = Math.max(...[...demo.verdicts.keys()].map((f) => f.length));
  for (const [file, verdict] of demo.verdicts) {
    const colour = verdict.startsWith("denied")
      ? "red"
      : verdict.startsWith("refused")
        ? "red"
        : "green";
    process.stdout.write(`  ${file.padEnd(width)}  ${style(colour, verdict)}\n`);
  }
  const skipped = exampleFiles().filter((file) => !demo.verdicts.has(file));
  if (skipped.length > 0) note(`\nexamples no section applies yet: ${skipped.join(", ")}`);
}

function printTryIt(demo: Demo): void {
  banner("Try it yourself");
  const kubectl = join(demo.cp.binDir, "kubectl");
  process.stdout.write(
    [
      "The control plane and the webhook keep running. In another terminal:",
      "",
      `  export KUBECONFIG=${demo.cp.kubeconfigPath}`,
      `  export KUBECACHEDIR=${join(demo.cp.dir, "kube-cache")}`,
      `  alias kubectl=${kubectl}`,
      `  cd ${REPO_ROOT}`,
      `  kubectl apply -f ${relative(REPO_ROOT, examplePath("openchoreo/invalid-dataplane-value-and-ref.yaml"))}`,
      "",
      `kubectl (built with the control plane): ${kubectl}`,
      `kubeconfig:                             ${demo.cp.kubeconfigPath}`,
      `webhook log (JSON, one line per review): ${demo.server.logPath}`,
      `examples:                               ${EXAMPLES_DIR}`,
      "",
      "Press Ctrl-C to stop; everything started here is stopped and its temp files removed.",
      "",
    ].join("\n"),
  );
}

async function main(argv: readonly string[]): Promise<number> {
  const once = argv.includes("--once");
  process.chdir(REPO_ROOT);
  let cp: OwnedControlPlane | undefined;
  let server: WebhookServer | undefined;
  let stopping: Promise<number> | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  const stop = (code: number): Promise<number> => {
    stopping ??= (async () => {
      banner("Stopping");
      for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {});
      if (server !== undefined) {
        const exit = await server.stop(10_000);
        note(`webhook stopped (exit code ${exit.code ?? exit.signal})`);
      }
      if (cp !== undefined) {
        await cp.stop();
        note(`kube-apiserver and etcd stopped, ${cp.dir} removed`);
      }
      return code;
    })();
    return stopping;
  };
  handleInterrupts((signal) => {
    process.stdout.write(`\n${signal}: stopping (press Ctrl-C again to kill at once)\n`);
    void stop(0).then((code) => process.exit(code));
  });

  try {
    banner("ca-trust-webhook demo: a real kube-apiserver, the webhook, the examples");
    for (const dir of reapOrphans())
      note(`removed what a killed earlier demo or test left: ${dir}`);
    note("control plane binaries (built once from the Go module proxy, then cached):");
    const binDir = await resolveBinaries();
    cp = await startControlPlane({ binDir, log: (message) => note(`  ${message}`) });
    const crds = await installCrds(cp);
    note(`${crds.length} CRDs installed and established`);
    server = await startWebhook(cp);
    note(`webhook ${server.url} ready (pid ${server.pid}; health, metrics on ${server.healthUrl})`);
    const registration = await registerWebhooks(cp, {
      name: "ca-trust-webhook",
      url: server.url,
      caBundle: server.caPem,
      failurePolicy: "Fail",
      // Pods of opted-in namespaces only (the server re-checks the labels itself).
      mutatingNamespaceSelector: { matchLabels: { ...INJECT_ENABLED } },
    });
    await waitForWebhookCalled(cp, server, { namespace: "default", registration });
    note(
      `registered: ValidatingWebhookConfiguration and MutatingWebhookConfiguration "${registration.configurationName}"`,
    );

    const demo: Demo = { cp, server, verdicts: new Map(), cleanups };
    const running = server;
    void running.exited.then((exit) => {
      if (stopping !== undefined) return;
      process.stderr.write(`\nthe webhook exited unexpectedly: ${JSON.stringify(exit)}\n`);
      void stop(1).then((code) => process.exit(code));
    });
    for (const section of SECTIONS) {
      if (stopping !== undefined) return stopping;
      banner(section.title);
      await section.run(demo);
    }
    printSummary(demo);
    if (stopping !== undefined) return stopping;
    if (once) return stop(0);
    printTryIt(demo);
    // Keeps the event loop alive: the children are unref'd, and only a signal ends the demo.
    setInterval(() => {}, 1 << 30);
    return new Promise<number>(() => {});
  } catch (error) {
    if (stopping !== undefined) return stopping; // interrupted mid-way: not an error
    process.stderr.write(
      `\ndemo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return stop(1);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
