/**
 * The kube-apiserver really calls our server: a registered ValidatingWebhookConfiguration
 * delivers Connector reviews (also dry-run ones), and `failurePolicy` decides what happens
 * when our server is down. Every assertion here depends on the registration: without it no
 * review reaches our log and the apiserver's per-webhook counters stay at zero.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connector, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, uniqueName } from "../../scripts/harness/namespaces.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import {
  apiServerMetrics,
  metricSum,
  REQUESTS_METRIC,
  type ReviewLogLine,
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

/** The review our server logged for `kind`/`name`, waiting for the log line to be written. */
function reviewOf(server: WebhookServer, kind: string, name: string): Promise<ReviewLogLine> {
  return pollUntil(() => server.reviews().find((r) => r.kind === kind && r.name === name), {
    what: `a review of ${kind} ${name} in the webhook's log`,
    timeoutMs: 10_000,
  });
}

async function connectorExists(namespace: string, name: string): Promise<boolean> {
  const result = await cp.kubectl([
    "get",
    "connectors.connectors.alauda.io",
    name,
    "-n",
    namespace,
    "--ignore-not-found",
    "-o",
    "name",
  ]);
  return result.stdout.trim() !== "";
}

describe("with our server registered and running", () => {
  let namespace: string;
  let server: WebhookServer;
  let registration: WebhookRegistration;

  beforeAll(async () => {
    namespace = await createTestNamespace(cp, { prefix: "admission" });
    server = await startWebhook(cp);
    registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      failurePolicy: "Fail",
      mutating: false,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    });
    await waitForWebhookCalled(cp, server, { namespace, registration });
  });

  afterAll(async () => {
    await registration?.unregister();
    await server?.stop();
  });

  it("receives the AdmissionReview of a Connector create", async () => {
    const name = uniqueName("connector");
    const counted = async () =>
      metricSum(await server.metrics(), REQUESTS_METRIC, {
        webhook: "validate",
        operation: "CREATE",
      });
    const before = await counted();

    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(connector(name, namespace)) });

    expect(await reviewOf(server, "Connector", name)).toMatchObject({
      kind: "Connector",
      namespace,
      name,
      operation: "CREATE",
      dryRun: false,
      decision: "allowed",
    });
    expect(await counted()).toBeGreaterThan(before);
    expect(await connectorExists(namespace, name)).toBe(true);
  });

  it("sees `kubectl apply --dry-run=server` as dryRun: true, and nothing is stored", async () => {
    const name = uniqueName("dry-run");

    await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], {
      input: toYaml(connector(name, namespace)),
    });

    expect(await reviewOf(server, "Connector", name)).toMatchObject({
      kind: "Connector",
      name,
      operation: "CREATE",
      dryRun: true,
    });
    expect(await connectorExists(namespace, name)).toBe(false);
  });
});

describe("with our server registered but stopped", () => {
  let namespace: string;
  let registration: WebhookRegistration;
  let url: string;
  let caBundle: string;

  beforeAll(async () => {
    namespace = await createTestNamespace(cp, { prefix: "server-down" });
    const server = await startWebhook(cp);
    url = server.url;
    caBundle = server.caPem;
    registration = await registerWebhooks(cp, {
      url,
      caBundle,
      failurePolicy: "Fail",
      mutating: false,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    });
    // Proves the Fail registration is in effect before the server goes away.
    await waitForWebhookCalled(cp, server, { namespace, registration });
    await server.stop();
  });

  afterAll(async () => {
    await registration?.unregister();
  });

  it("failurePolicy Fail: kubectl apply fails with the apiserver's webhook-call error", async () => {
    const name = uniqueName("refused");
    const rejections = async () =>
      metricSum(await apiServerMetrics(cp), "apiserver_admission_webhook_rejection_count", {
        name: registration.validatingWebhookName,
        error_type: "calling_webhook_error",
      });
    const before = await rejections();

    const applied = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(connector(name, namespace)),
      allowFail: true,
    });
    const created = await cp.request(
      "POST",
      `/apis/connectors.alauda.io/v1alpha1/namespaces/${namespace}/connectors`,
      connector(name, namespace),
    );

    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain(
      `failed calling webhook "${registration.validatingWebhookName}"`,
    );
    expect(created.status).toBe(500);
    expect(created.json).toMatchObject({ kind: "Status", reason: "InternalError", code: 500 });
    expect(await rejections()).toBeGreaterThanOrEqual(before + 2);
    expect(await connectorExists(namespace, name)).toBe(false);
  });

  it("failurePolicy Ignore: the apiserver admits the Connector and counts a fail-open", async () => {
    const ignoring = await registerWebhooks(cp, {
      url,
      caBundle,
      failurePolicy: "Ignore",
      mutating: false,
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    });
    registration = ignoring; // so that afterAll removes this one
    const name = uniqueName("admitted");
    const failOpen = async () =>
      metricSum(await apiServerMetrics(cp), "apiserver_admission_webhook_fail_open_count", {
        name: ignoring.validatingWebhookName,
      });

    // The switch from Fail to Ignore propagates asynchronously: retry until admitted.
    const applied = await pollUntil(
      async () => {
        const result = await cp.kubectl(["apply", "-f", "-"], {
          input: toYaml(connector(name, namespace)),
          allowFail: true,
        });
        return result.code === 0 ? result : undefined;
      },
      {
        what: "the Ignore registration to admit the Connector",
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );

    expect(applied.code).toBe(0);
    expect(await failOpen()).toBeGreaterThanOrEqual(1);
    expect(await connectorExists(namespace, name)).toBe(true);
  });
});
