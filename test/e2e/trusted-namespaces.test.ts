/**
 * Trusted Secret namespaces (issue 15, acceptance 2), through a real kube-apiserver: the
 * DataPlane of OpenChoreo's external-CA guide (in `default`, its CA Secret in
 * `openchoreo-control-plane`) is denied by default with both ways out in the message, and
 * allowed once `openchoreo-control-plane` is trusted; by the webhook, and by the
 * ValidatingAdmissionPolicy alone (no webhook registered) rendered from the same settings.
 * What kubectl prints in each case is attached to the test (the README quotes it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubectlResult } from "../../scripts/harness/controlplane.js";
import { exampleObjects, examplePath } from "../../scripts/harness/examples.js";
import { type Manifest, toYaml } from "../../scripts/harness/manifests.js";
import { pollUntil } from "../../scripts/harness/poll.js";
import { applyVerdict, verdictKind } from "../../scripts/harness/verdicts.js";
import {
  registerWebhooks,
  removeHarnessWebhooks,
  startWebhook,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { POLICY_NAME, renderManifestsYaml } from "../../src/manifests.js";
import type { TrustedNamespace } from "../../src/policy/engine.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

const GUIDE = "openchoreo/external-ca-guide-dataplane-secret.yaml";
const TRUST_FLAG = "--trusted-secret-namespaces=openchoreo-planes=openchoreo-control-plane";
const FIELD = "spec.clusterAgent.clientCA.secretKeyRef.namespace";
/** The two ways out the denial must name. */
const WAYS_OUT = [
  `${FIELD}: Forbidden: must be "default" (the DataPlane's namespace): put the CA Secret there`,
  'or have an administrator trust namespace "openchoreo-control-plane" with --trusted-secret-namespaces=openchoreo-control-plane (or openchoreo-planes=openchoreo-control-plane for this rule only)',
];

const guideObjects = () => exampleObjects(GUIDE);
const dataPlane = () => guideObjects().find((o) => o.kind === "DataPlane") as Manifest;

/** A WorkflowPlane in `default` reaching into a namespace nobody trusts. */
const untrusted: Manifest = {
  apiVersion: "openchoreo.dev/v1alpha1",
  kind: "WorkflowPlane",
  metadata: { name: "reaches-elsewhere", namespace: "default" },
  spec: {
    planeID: "reaches-elsewhere",
    clusterAgent: {
      clientCA: {
        secretKeyRef: { name: "edge-agent-ca", key: "ca.crt", namespace: "connectors-system" },
      },
    },
  },
};

async function applyGuide(): Promise<KubectlResult> {
  return cp.kubectl(["apply", "-f", examplePath(GUIDE)], { allowFail: true });
}

async function deleteObjects(...objects: Manifest[]): Promise<void> {
  await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], { input: toYaml(...objects) });
}

/** The field error part of kubectl's denial line (from the field path on). */
function fieldErrorOf(stderr: string): string {
  const at = stderr.indexOf(`${FIELD}: `);
  return at === -1 ? "" : (stderr.slice(at).split("\n")[0] ?? "");
}

beforeAll(async () => {
  await cp.kubectl(["apply", "-f", examplePath("namespaces.yaml")]);
  // The Secret the guide references, applied once (the DataPlane is the subject).
  const secret = guideObjects().find((o) => o.kind === "Secret") as Manifest;
  await cp.kubectl(["apply", "-f", "-"], { input: toYaml(secret) });
  await deleteObjects(dataPlane(), untrusted);
});

describe("by the webhook", () => {
  let server: WebhookServer | undefined;

  async function serve(extraArgs: readonly string[]): Promise<void> {
    await server?.stop();
    server = await startWebhook(cp, { extraArgs });
    const registration = await registerWebhooks(cp, {
      url: server.url,
      caBundle: server.caPem,
      failurePolicy: "Fail",
      mutating: false,
    });
    await waitForWebhookCalled(cp, server, { namespace: "default", registration });
  }

  afterAll(async () => {
    await removeHarnessWebhooks(cp);
    await server?.stop();
    await deleteObjects(dataPlane(), untrusted);
  });

  it("denies the guide's DataPlane by default, naming both ways out", async ({ annotate }) => {
    await serve([]);

    const result = await applyGuide();
    await annotate(`kubectl apply -f examples/${GUIDE}:\n${result.stdout}${result.stderr}`);

    const verdict = applyVerdict(result);
    expect(verdictKind(verdict)).toBe("denied");
    expect(verdict.errors.map((e) => [e.reason, e.fields])).toEqual([
      ["Forbidden", [{ field: FIELD, type: "Forbidden" }]],
    ]);
    for (const text of WAYS_OUT) expect(result.stderr).toContain(text);
  });

  it("denies it still when the namespace is trusted for another rule only", async () => {
    await serve(["--trusted-secret-namespaces=kcp-operator=openchoreo-control-plane"]);

    const verdict = applyVerdict(await applyGuide());

    expect(verdictKind(verdict)).toBe("denied");
  });

  it("allows it once openchoreo-control-plane is trusted for OpenChoreo's planes; other namespaces stay denied", async ({
    annotate,
  }) => {
    await serve([TRUST_FLAG]);

    const result = await applyGuide();
    const other = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(untrusted),
      allowFail: true,
    });
    await annotate(`with ${TRUST_FLAG}:\n${result.stdout}${result.stderr}`);

    expect(verdictKind(applyVerdict(result))).toBe("allowed");
    expect(result.stdout).toContain("dataplane.openchoreo.dev/edge-from-secret created");
    expect(verdictKind(applyVerdict(other))).toBe("denied");
    expect(other.stderr).toContain(
      `${FIELD}: Forbidden: must be "default" (the WorkflowPlane's namespace)`,
    );
  });
});

describe("by the ValidatingAdmissionPolicy, with no webhook registered", () => {
  const policy = (trusted: TrustedNamespace[]) =>
    renderManifestsYaml(
      { rules: [], allowedSecretNamespaces: [], trustedSecretNamespaces: trusted },
      { only: "vap" },
    );
  /** The DataPlane as a dry-run create: what the policy answers now. */
  const probe = () =>
    cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
      input: toYaml(dataPlane()),
      allowFail: true,
    });

  beforeAll(async () => {
    await removeHarnessWebhooks(cp);
    const registered = await cp.kubectl([
      "get",
      "validatingwebhookconfigurations",
      "-o",
      "jsonpath={.items[*].metadata.name}",
    ]);
    expect(registered.stdout).not.toMatch(/ca-trust/);
    await deleteObjects(dataPlane(), untrusted);
  });

  afterAll(async () => {
    await cp.kubectl(["delete", "--ignore-not-found", "-f", "-"], {
      input: policy([]),
      allowFail: true,
    });
    await deleteObjects(dataPlane(), untrusted);
  });

  it("denies the guide's DataPlane with the webhook's field path and words, and the way out", async ({
    annotate,
  }) => {
    await cp.kubectl(["apply", "-f", "-"], { input: policy([]) });
    // The apiserver compiles and binds a policy asynchronously.
    await pollUntil(async () => ((await probe()).code !== 0 ? true : undefined), {
      what: "the ValidatingAdmissionPolicy to deny",
      timeoutMs: 30_000,
    });

    const result = await applyGuide();
    const single = await cp.kubectl(["create", "-f", "-"], {
      input: toYaml(dataPlane()),
      allowFail: true,
    });
    await annotate(
      `kubectl apply -f examples/${GUIDE} (policy only):\n${result.stdout}${result.stderr}\nkubectl create -f (the DataPlane alone):\n${single.stderr}`,
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `Error from server (Forbidden): error when creating "${examplePath(GUIDE)}": dataplanes.openchoreo.dev "edge-from-secret" is forbidden: ValidatingAdmissionPolicy '${POLICY_NAME}' with binding '${POLICY_NAME}' denied request: `,
    );
    for (const text of WAYS_OUT) expect(result.stderr).toContain(text);
    expect(single.stderr).not.toContain("is invalid: :");
    expect(single.stderr).toContain(" is forbidden: ");
  });

  it("gives the same field error as the webhook, word for word", async () => {
    const byPolicy = fieldErrorOf((await applyGuide()).stderr);
    const server = await startWebhook(cp);
    let byWebhook: string;
    try {
      const registration = await registerWebhooks(cp, {
        url: server.url,
        caBundle: server.caPem,
        failurePolicy: "Fail",
        mutating: false,
      });
      await waitForWebhookCalled(cp, server, { namespace: "default", registration });
      // Both deny; kubectl shows the first answer, which may be either: ask the webhook alone.
      await cp.kubectl(["delete", "-f", "-"], { input: policy([]) });
      await pollUntil(
        async () => ((await probe()).stderr.includes("admission webhook") ? true : undefined),
        { what: "the policy to be gone, the webhook answering", timeoutMs: 30_000 },
      );
      byWebhook = fieldErrorOf((await applyGuide()).stderr);
      await registration.unregister();
    } finally {
      await server.stop();
    }

    expect(byPolicy).toMatch(/^spec\.clusterAgent\.clientCA\.secretKeyRef\.namespace: Forbidden: /);
    expect(byPolicy).toBe(byWebhook);
  });

  it("allows it once the policy is rendered with openchoreo-control-plane trusted; other namespaces stay denied", async ({
    annotate,
  }) => {
    await cp.kubectl(["apply", "-f", "-"], {
      input: policy([{ rule: "openchoreo-planes", namespace: "openchoreo-control-plane" }]),
    });
    // The policy is in force once it denies the WorkflowPlane (no policy at all allows both).
    await pollUntil(
      async () => {
        const denied = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
          input: toYaml(untrusted),
          allowFail: true,
        });
        return denied.code !== 0 && (await probe()).code === 0 ? true : undefined;
      },
      { what: "the re-rendered ValidatingAdmissionPolicy to be in force", timeoutMs: 30_000 },
    );

    const result = await applyGuide();
    const other = await cp.kubectl(["apply", "-f", "-"], {
      input: toYaml(untrusted),
      allowFail: true,
    });
    await annotate(`policy trusting openchoreo-control-plane:\n${result.stdout}${result.stderr}`);

    expect(verdictKind(applyVerdict(result))).toBe("allowed");
    expect(result.stdout).toContain("dataplane.openchoreo.dev/edge-from-secret created");
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`ValidatingAdmissionPolicy '${POLICY_NAME}'`);
    expect(other.stderr).toContain(`${FIELD}: Forbidden: must be "default" (the WorkflowPlane's`);
  });
});
