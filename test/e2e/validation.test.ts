/**
 * The validation engine behind a real kube-apiserver, as a user meets it: `kubectl apply` of
 * every example in examples/ through our registered webhook (verdicts: examples/README.md),
 * `--dry-run=server` answering the same, the Connectors feature flag taking effect while the
 * server runs, the watches keeping to their selectors, and Secret lookups never reused. An
 * example whose verdict needs a server option (`# Config:`) is applied through a second server
 * started with it. Every verdict asserted here needs the registration: without it the denied
 * examples would be stored, no warning would be printed and no review would reach our log.
 *
 * Order independence: the examples live in fixed namespaces (examples/namespaces.yaml), so
 * each example test first deletes the objects the example is about (CA-referencing objects and
 * labelled CA Secrets) and then applies the file as written, a CREATE every time. The objects
 * they merely need (unlabelled Secrets, the flag ConfigMap) are applied once, before any
 * lookup can cache their absence. Tests that change shared state (the flag) restore it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubectlResult } from "../../scripts/harness/controlplane.js";
import {
  exampleConfig,
  exampleFiles,
  exampleObjects,
  examplePath,
  expectedVerdict,
} from "../../scripts/harness/examples.js";
import { connector, type Manifest, secret, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, uniqueName } from "../../scripts/harness/namespaces.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  type ApplyVerdict,
  applyVerdict,
  type FieldErrorRef,
  verdictKind,
} from "../../scripts/harness/verdicts.js";
import {
  metricSum,
  type ReviewLogLine,
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

/** The flag is read at request time from a watch: a flip must show within this. */
const FLAG_BOUND_MS = 2_000;
const FLAG = {
  namespace: "connectors-system",
  name: "connectors-config",
  key: "enable-custom-ca-certs",
} as const;
const GLOBAL_CA_LABEL = "connectors.cpaas.io/ca-cert";
const CACHE_METRIC = "ca_trust_webhook_cache_objects";

/** What `kubectl apply` of an example must answer while enable-custom-ca-certs is "true". */
type Expected =
  | { verdict: "allowed" }
  /** Stored, with at least one `Warning:` line; `field` starts one of them when given. */
  | { verdict: "warned"; field?: string }
  /** Denied by our webhook with this status reason and exactly this one field error. */
  | { verdict: "denied"; reason: "Forbidden" | "Invalid"; error: FieldErrorRef }
  /** Refused by the apiserver before admission (strict field validation). */
  | { verdict: "refused"; reason: "BadRequest"; detail: string };

const allowed: Expected = { verdict: "allowed" };
const denied = (
  reason: "Forbidden" | "Invalid",
  field: string,
  type: FieldErrorRef["type"],
): Expected => ({ verdict: "denied", reason, error: { field, type } });

/** examples/README.md "Verdicts", as the engine answers them. */
const VERDICTS: Record<string, Expected> = {
  "connectors/connectors-config.yaml": allowed,
  "connectors/global-ca-secret.yaml": allowed,
  "connectors/global-ca-secret-outside-system-namespace.yaml": { verdict: "warned" },
  "connectors/global-ca-secret-broken-pem.yaml": denied("Invalid", "data[ca.crt]", "Invalid value"),
  "connectors/global-ca-secret-with-private-key.yaml": denied(
    "Invalid",
    "data[ca.crt]",
    "Invalid value",
  ),
  "connectors/valid-connector.yaml": allowed,
  "connectors/invalid-cross-namespace-connector.yaml": {
    verdict: "refused",
    reason: "BadRequest",
    detail: 'unknown field "spec.caCertSecretRef.namespace"',
  },
  "connectors/missing-secret-connector.yaml": {
    verdict: "warned",
    field: "spec.caCertSecretRef.name",
  },
  "connectors/invalid-pem-connector.yaml": denied(
    "Invalid",
    "spec.caCertSecretRef.name",
    "Invalid value",
  ),
  "connectors/broken-pem-connector.yaml": denied(
    "Invalid",
    "spec.caCertSecretRef.name",
    "Invalid value",
  ),
  "connectors/how-to-custom-ca.yaml": allowed,
  "connectors/cert-manager-tls-secret.yaml": allowed,
  "openchoreo/valid-dataplane.yaml": allowed,
  "openchoreo/valid-clusterdataplane-inline.yaml": allowed,
  "openchoreo/valid-clusterworkflowplane.yaml": allowed,
  "openchoreo/legacy-buildplane-secretref.yaml": allowed,
  "openchoreo/invalid-cross-namespace-workflowplane.yaml": denied(
    "Forbidden",
    "spec.clusterAgent.clientCA.secretKeyRef.namespace",
    "Forbidden",
  ),
  "openchoreo/invalid-observabilityplane-not-pem.yaml": denied(
    "Invalid",
    "spec.clusterAgent.clientCA.value",
    "Invalid value",
  ),
  "openchoreo/invalid-clusterdataplane-no-namespace.yaml": denied(
    "Invalid",
    "spec.clusterAgent.clientCA.secretKeyRef.namespace",
    "Required value",
  ),
  "openchoreo/k3d-readme-cluster-planes.yaml": allowed,
  "openchoreo/external-ca-guide-dataplane-inline.yaml": allowed,
  "openchoreo/external-ca-guide-dataplane-secret.yaml": denied(
    "Forbidden",
    "spec.clusterAgent.clientCA.secretKeyRef.namespace",
    "Forbidden",
  ),
  "openchoreo/observabilityplane-secretkeyref.yaml": {
    verdict: "warned",
    field: "spec.clusterAgent.clientCA.secretKeyRef",
  },
  "openchoreo/invalid-dataplane-value-and-ref.yaml": denied(
    "Invalid",
    "spec.clusterAgent.clientCA",
    "Invalid value",
  ),
  "kcp/valid-frontproxy.yaml": allowed,
  "kcp/valid-rootshard.yaml": allowed,
  "kcp/pki-client-ca-bundle.yaml": allowed,
  "kcp/invalid-shard-missing-tls-crt.yaml": denied(
    "Invalid",
    "spec.clientCABundleRef.name",
    "Invalid value",
  ),
  "kcp/rootshard-own-pki.yaml": allowed,
  "kcp/invalid-cacheserver-key-mismatch.yaml": denied(
    "Invalid",
    "spec.certificates.caSecretRef.name",
    "Invalid value",
  ),
};

/** Examples whose `# Config:` line names server options: their verdict with those options. */
const WITH_CONFIG: Record<string, Expected> = {
  "openchoreo/external-ca-guide-dataplane-secret-trusted.yaml": allowed,
};

/** Not in this suite: the namespaces (set-up) and Pod injection (POST /mutate is being wired). */
const NOT_HERE = (file: string) => file === "namespaces.yaml" || file.startsWith("injection/");

const entries = (kind: Expected["verdict"]) =>
  Object.entries(VERDICTS).filter(([, expected]) => expected.verdict === kind);

/**
 * Objects an example needs but is not about: unlabelled Secrets (referenced CAs), ConfigMaps
 * (the flag) and the Connectors operator's ConnectorsConfig (the flag as the docs set it; no
 * webhook is registered for it). The webhook lets them through untouched; they are applied once.
 */
function isSupport(object: Manifest): boolean {
  const labels = (object.metadata as { labels?: Record<string, string> }).labels ?? {};
  if (object.kind === "ConfigMap" || object.kind === "ConnectorsConfig") return true;
  return object.kind === "Secret" && labels[GLOBAL_CA_LABEL] !== "true";
}

/** The objects an example is about: deleted before each apply so that it is a CREATE. */
function subjects(file: string): Manifest[] {
  return exampleObjects(file).filter((o) => !isSupport(o));
}

function nameOf(object: Manifest): string {
  return (object.metadata as { name: string }).name;
}

/** kubectl's output split into lines, for asserting on whole lines (`Warning: ...`). */
function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

let server: WebhookServer;
let registration: WebhookRegistration;
/** A namespace of this file with a Secret that holds no certificate, for flag probes. */
let probeNamespace: string;

async function apply(file: string, extra: readonly string[] = []): Promise<KubectlResult> {
  return cp.kubectl(["apply", ...extra, "-f", examplePath(file)], { allowFail: true });
}

async function applyYaml(docs: Manifest[], extra: readonly string[] = []) {
  return cp.kubectl(["apply", ...extra, "-f", "-"], { input: toYaml(...docs), allowFail: true });
}

/** Deletes an example's subjects (waiting until they are gone). */
async function resetSubjects(file: string): Promise<void> {
  const docs = subjects(file);
  if (docs.length === 0) return;
  await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], { input: toYaml(...docs) });
}

/** The subjects of an example that exist, as `kind/name` lines. */
async function storedSubjects(file: string): Promise<string[]> {
  const docs = subjects(file);
  if (docs.length === 0) return [];
  const result = await cp.kubectl(["get", "--ignore-not-found", "-o", "name", "-f", "-"], {
    input: toYaml(...docs),
  });
  return lines(result.stdout);
}

/** The reviews our server logged after `mark` (an earlier `server.reviews().length`). */
function reviewsSince(mark: number): ReviewLogLine[] {
  return server.reviews().slice(mark);
}

/** Waits until the server has logged a review of each object after `mark`; returns them. */
async function reviewsOf(mark: number, objects: Manifest[]): Promise<ReviewLogLine[]> {
  return pollUntil(
    () => {
      const found = objects.map((o) =>
        reviewsSince(mark).find((r) => r.kind === o.kind && r.name === nameOf(o)),
      );
      return found.every((r) => r !== undefined) ? (found as ReviewLogLine[]) : undefined;
    },
    {
      what: `reviews of ${objects.map(nameOf).join(", ")} in the webhook's log`,
      timeoutMs: 10_000,
    },
  );
}

/** A Connector that the engine denies while the flag is on and allows with a warning when off. */
function flagProbe(): Manifest {
  return connector(uniqueName("flag-probe"), probeNamespace, "no-certificate");
}

/** How quickly the webhook followed a flag change (milliseconds after the patch was stored). */
interface FlagChange {
  /** When each dry run that still got the old answer was started. */
  staleStartedAt: number[];
  /** When the first dry run with the new answer had finished. */
  followedBy: number;
}

/**
 * Sets the flag with `kubectl patch`, then dry-runs the probe Connector back to back until the
 * answer follows. A stale answer to a dry run started after the bound is a violation however
 * slow kubectl is on a busy machine; when the first new answer arrived is an upper bound.
 */
async function setFlag(value: "true" | "false"): Promise<FlagChange> {
  await cp.kubectl([
    "patch",
    "configmap",
    FLAG.name,
    "-n",
    FLAG.namespace,
    "--type=merge",
    "-p",
    JSON.stringify({ data: { [FLAG.key]: value } }),
  ]);
  const patched = Date.now();
  const staleStartedAt: number[] = [];
  await pollUntil(
    async () => {
      const startedAt = Date.now() - patched;
      const probe = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
        input: toYaml(flagProbe()),
        allowFail: true,
      });
      if ((probe.code === 0) === (value === "false")) return true;
      staleStartedAt.push(startedAt);
      return undefined;
    },
    { what: `the webhook to answer as ${FLAG.key}=${value}`, timeoutMs: 30_000, intervalMs: 0 },
  );
  return { staleStartedAt, followedBy: Date.now() - patched };
}

async function cacheObjects(cache: string): Promise<number> {
  return metricSum(await server.metrics(), CACHE_METRIC, { cache });
}

/** A PEM CA certificate from the examples (valid 2026-2036). */
function validCaPem(): string {
  const ca = exampleObjects("connectors/valid-connector.yaml").find((o) => o.kind === "Secret");
  const pem = (ca?.stringData as Record<string, string> | undefined)?.["ca.crt"];
  if (pem === undefined) throw new Error("connectors/valid-connector.yaml has no ca.crt");
  return pem;
}

beforeAll(async () => {
  await cp.kubectl(["apply", "-f", examplePath("namespaces.yaml")]);
  probeNamespace = await createTestNamespace(cp, { prefix: "validation" });
  server = await startWebhook(cp);
  registration = await registerWebhooks(cp, {
    url: server.url,
    caBundle: server.caPem,
    failurePolicy: "Fail",
    mutating: false,
  });
  await waitForWebhookCalled(cp, server, { namespace: probeNamespace, registration });
  // Every object the examples merely need, before anything looks one up.
  const support = Object.keys({ ...VERDICTS, ...WITH_CONFIG }).flatMap((file) =>
    exampleObjects(file).filter(isSupport),
  );
  await applyYaml([
    ...support,
    secret("no-certificate", probeNamespace, { token: "not a certificate" }),
  ]).then((result) => expect(result.stderr).toBe(""));
  // The examples' verdicts are the flag-on ones; the flag ConfigMap was just applied "true".
  await setFlag("true");
});

afterAll(async () => {
  await registration?.unregister();
  await server?.stop();
});

describe("examples/ applied with kubectl through the webhook", () => {
  it("has an expected verdict for every example outside injection/", () => {
    expect(Object.keys({ ...VERDICTS, ...WITH_CONFIG }).sort()).toEqual(
      exampleFiles().filter((f) => !NOT_HERE(f)),
    );
    expect(Object.keys(VERDICTS).filter((f) => exampleConfig(f).length > 0)).toEqual([]);
    expect(Object.keys(WITH_CONFIG).filter((f) => exampleConfig(f).length === 0)).toEqual([]);
  });

  it("each example's own `# Verdict:` line claims the verdict expected here", () => {
    const all = { ...VERDICTS, ...WITH_CONFIG };
    const claimed = Object.fromEntries(Object.keys(all).map((f) => [f, expectedVerdict(f)]));
    const expected = Object.fromEntries(Object.entries(all).map(([f, e]) => [f, e.verdict]));

    expect(claimed).toEqual(expected);
  });

  it.each(entries("allowed").map(([file]) => file))(
    "%s is stored, with no warning, after the webhook reviewed it",
    async (file) => {
      await resetSubjects(file);
      const mark = server.reviews().length;

      const result = await apply(file);

      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const reviews = await reviewsOf(mark, subjects(file));
      expect(reviews.map((r) => [r.decision, r.dryRun])).toEqual(
        reviews.map(() => ["allowed", false]),
      );
      expect(await storedSubjects(file)).toHaveLength(subjects(file).length);
    },
  );

  it.each(
    entries("warned").map(([file, expected]) => [
      file,
      expected.verdict === "warned" && expected.field !== undefined
        ? `at ${expected.field}`
        : "about the object",
      expected.verdict === "warned" ? expected.field : undefined,
    ]),
  )("%s is stored and kubectl prints the webhook's Warning: line %s", async (file, _, field) => {
    await resetSubjects(file);

    const result = await apply(file);

    expect(result.code).toBe(0);
    const warnings = lines(result.stderr);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((line) => line.startsWith("Warning: "))).toBe(true);
    if (field !== undefined) {
      expect(warnings.some((line) => line.startsWith(`Warning: ${field}: `))).toBe(true);
    }
    expect(await storedSubjects(file)).toHaveLength(subjects(file).length);
  });

  it.each(
    entries("denied").map(([file, expected]) => {
      if (expected.verdict !== "denied") throw new Error(file);
      return [file, `${expected.error.field}: ${expected.error.type}`, expected] as const;
    }),
  )("%s is denied by the webhook at %s, and not stored", async (file, fieldAndType, expected) => {
    if (expected.verdict !== "denied") throw new Error(file);
    await resetSubjects(file);

    const result = await apply(file);
    const verdict = applyVerdict(result);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `admission webhook "${registration.validatingWebhookName}" denied the request`,
    );
    expect(result.stderr).toContain(fieldAndType);
    expect(verdict.errors.map((e) => [e.reason, e.deniedBy, e.fields])).toEqual([
      [expected.reason, registration.validatingWebhookName, [expected.error]],
    ]);
    expect(await storedSubjects(file)).toEqual([]);
  });

  it("connectors/invalid-cross-namespace-connector.yaml is refused by strict field validation before admission", async () => {
    const file = "connectors/invalid-cross-namespace-connector.yaml";
    const expected = VERDICTS[file];
    if (expected?.verdict !== "refused") throw new Error(file);
    await resetSubjects(file);
    const mark = server.reviews().length;

    const result = await apply(file);
    const verdict = applyVerdict(result);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(expected.detail);
    expect(verdict.errors.map((e) => [e.reason, e.deniedBy])).toEqual([
      [expected.reason, undefined],
    ]);
    expect(reviewsSince(mark).filter((r) => r.kind === "Connector")).toEqual([]);
    expect(await storedSubjects(file)).toEqual([]);
  });

  it("the same Connector with --validate=false loses the unknown field and reaches the webhook", async () => {
    const file = "connectors/invalid-cross-namespace-connector.yaml";
    const [object] = subjects(file);
    if (object === undefined) throw new Error(file);
    await resetSubjects(file);
    const mark = server.reviews().length;

    const result = await apply(file, ["--validate=false"]);
    const stored = await cp.kubectl([
      "get",
      "connectors.connectors.alauda.io",
      nameOf(object),
      "-n",
      "my-namespace",
      "-o",
      "jsonpath={.spec.caCertSecretRef}",
    ]);
    await resetSubjects(file);

    expect(result.code).toBe(0);
    expect(await reviewsOf(mark, [object])).toMatchObject([{ dryRun: false }]);
    expect(JSON.parse(stored.stdout)).toEqual({ name: "my-internal-ca" });
  });

  it.each(Object.entries(VERDICTS))(
    "%s: kubectl apply --dry-run=server answers as the real apply, and stores nothing",
    async (file, expected) => {
      await resetSubjects(file);
      const mark = server.reviews().length;

      const dryRun = applyVerdict(await apply(file, ["--dry-run=server"]));
      // What the webhook was asked during the dry run (refused objects never reach it).
      const dryRunReviews =
        expected.verdict === "refused" ? [] : await reviewsOf(mark, subjects(file));
      const storedAfterDryRun = await storedSubjects(file);
      const real = applyVerdict(await apply(file));

      const comparable = (v: ApplyVerdict) => ({
        code: v.code,
        objects: v.objects,
        warnings: v.warnings,
        errors: v.errors.map((e) => ({ reason: e.reason, deniedBy: e.deniedBy, fields: e.fields })),
      });
      expect(comparable(dryRun)).toEqual(comparable(real));
      expect(verdictKind(dryRun)).toBe(expected.verdict);
      expect(dryRunReviews.map((r) => r.dryRun)).toEqual(dryRunReviews.map(() => true));
      expect(storedAfterDryRun).toEqual([]);
    },
  );
});

describe("the Connectors feature flag (connectors-config, enable-custom-ca-certs)", () => {
  it("a kubectl patch of the flag changes the Connector verdict within 2 s, without a restart", async ({
    annotate,
  }) => {
    const pid = server.pid;
    let off: FlagChange;
    let on: FlagChange;
    let whileOff: KubectlResult;
    try {
      off = await setFlag("false");
      whileOff = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
        input: toYaml(flagProbe()),
        allowFail: true,
      });
    } finally {
      on = await setFlag("true");
    }
    const whileOn = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
      input: toYaml(flagProbe()),
      allowFail: true,
    });

    expect(whileOff.code).toBe(0);
    expect(applyVerdict(whileOff).warnings).toHaveLength(1);
    expect(whileOn.code).toBe(1);
    expect(applyVerdict(whileOn).errors[0]?.fields).toEqual([
      { field: "spec.caCertSecretRef.name", type: "Invalid value" },
    ]);
    const summary = (c: FlagChange) =>
      `followed within ${c.followedBy} ms (stale answers to dry runs started at [${c.staleStartedAt.join(", ")}] ms)`;
    await annotate(`off: ${summary(off)}; on: ${summary(on)}`);
    expect(off.staleStartedAt.filter((ms) => ms >= FLAG_BOUND_MS)).toEqual([]);
    expect(on.staleStartedAt.filter((ms) => ms >= FLAG_BOUND_MS)).toEqual([]);
    expect(server.pid).toBe(pid);
    expect(() => process.kill(pid, 0)).not.toThrow();
  });
});

describe("the watches keep to their selectors", () => {
  it("unrelated ConfigMaps and unlabelled Secrets in connectors-system are not cached", async () => {
    const tag = uniqueName("selectors");
    const elsewhere = await createTestNamespace(cp, { prefix: "selectors" });
    const configMap = (name: string, namespace: string, data: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace },
      data,
    });
    const noise: Manifest[] = [
      ...[1, 2, 3, 4, 5].map((i) =>
        configMap(`${tag}-${i}`, FLAG.namespace, { [FLAG.key]: "false" }),
      ),
      // Same name as the flag ConfigMap, another namespace.
      configMap(FLAG.name, elsewhere, { [FLAG.key]: "false" }),
      ...[1, 2, 3, 4, 5].map((i) =>
        secret(`${tag}-${i}`, FLAG.namespace, { "ca.crt": validCaPem() }),
      ),
      // The label with another value, and the label (value "true") in another namespace.
      secret(
        `${tag}-false`,
        FLAG.namespace,
        { "ca.crt": validCaPem() },
        { [GLOBAL_CA_LABEL]: "false" },
      ),
      secret(
        `${tag}-elsewhere`,
        elsewhere,
        { "ca.crt": validCaPem() },
        { [GLOBAL_CA_LABEL]: "true" },
      ),
    ];
    // Applied last: once the cache holds it, the watch has delivered everything before it.
    const labelled = secret(
      `${tag}-labelled`,
      FLAG.namespace,
      { "ca.crt": validCaPem() },
      { [GLOBAL_CA_LABEL]: "true" },
    );
    try {
      expect((await applyYaml(noise)).code).toBe(0);
      expect((await applyYaml([labelled])).code).toBe(0);
      const listed = await cp.kubectl([
        "get",
        "secrets",
        "-n",
        FLAG.namespace,
        "-l",
        `${GLOBAL_CA_LABEL}=true`,
        "-o",
        "name",
      ]);
      const expectedLabelled = lines(listed.stdout).length;
      await pollUntil(
        async () =>
          (await cacheObjects("labelled-secrets")) >= expectedLabelled ? true : undefined,
        { what: `${expectedLabelled} labelled Secrets in the webhook's cache`, timeoutMs: 10_000 },
      );
      // A round trip through the flag's watch: events for the noise would have come first.
      await setFlag("false");
      await setFlag("true");

      expect(lines(listed.stdout)).toContain(`secret/${tag}-labelled`);
      expect(await cacheObjects("labelled-secrets")).toBe(expectedLabelled);
      expect(await cacheObjects("flag-configmap")).toBe(1);
    } finally {
      await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], {
        input: toYaml(...noise, labelled),
      });
    }
  });
});

describe("examples whose verdict needs a server option (# Config:)", () => {
  it.each(Object.entries(WITH_CONFIG))(
    "%s: with its options, applied through a server started with them, answers as claimed",
    async (file, expected) => {
      const options = exampleConfig(file);
      await resetSubjects(file);
      const configured = await startWebhook(cp, { extraArgs: options });
      const configuredRegistration = await registerWebhooks(cp, {
        url: configured.url,
        caBundle: configured.caPem,
        failurePolicy: "Fail",
        mutating: false,
      });
      let result: KubectlResult;
      let reviews: ReviewLogLine[];
      try {
        const mark = configured.reviews().length;
        result = await apply(file);
        reviews = await pollUntil(
          () => {
            const found = configured
              .reviews()
              .slice(mark)
              .filter((r) => subjects(file).some((o) => o.kind === r.kind && nameOf(o) === r.name));
            return found.length >= subjects(file).length ? found : undefined;
          },
          { what: `reviews of ${file} by the configured server`, timeoutMs: 10_000 },
        );
      } finally {
        await configuredRegistration.unregister();
        await configured.stop();
        // The suite's own registration again (registerWebhooks keeps one at a time).
        registration = await registerWebhooks(cp, {
          url: server.url,
          caBundle: server.caPem,
          failurePolicy: "Fail",
          mutating: false,
        });
      }

      expect(verdictKind(applyVerdict(result))).toBe(expected.verdict);
      expect(reviews.map((r) => r.decision)).toEqual(reviews.map(() => "allowed"));
      expect(await storedSubjects(file)).toHaveLength(subjects(file).length);
      await resetSubjects(file);
    },
  );
});

describe("Secret lookups (read for every review, never reused)", () => {
  it("a Secret created after the Connector that warned about it makes the very next apply clean", async () => {
    const namespace = await createTestNamespace(cp, { prefix: "late-secret" });
    const object = connector("late", namespace, "late-ca");
    // A changed annotation each time: kubectl sends nothing for an unchanged object.
    const applyConnector = async (attempt: number) =>
      applyVerdict(
        await applyYaml([
          {
            ...object,
            metadata: { name: "late", namespace, annotations: { attempt: `${attempt}` } },
          },
        ]),
      );

    const before = await applyConnector(0);
    await applyYaml([secret("late-ca", namespace, { "ca.crt": validCaPem() })]);
    const after = await applyConnector(1);

    expect(before.code).toBe(0);
    expect(before.warnings.map((w) => w.split(": ")[0])).toEqual(["spec.caCertSecretRef.name"]);
    expect(after.warnings).toEqual([]);
    expect(after.objects).toEqual(["connector.connectors.alauda.io/late configured"]);
  });
});
