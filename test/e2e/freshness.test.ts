/**
 * A verdict never rests on a Secret older than the request (issue 15, acceptance 1), through a
 * real kube-apiserver and kubectl: in one `kubectl apply -f` holding a Secret and the object
 * that references it, the object's verdict follows that file's Secret, on create and on
 * update; and a Secret fixed (or broken) right before the next apply is what that apply is
 * judged against, with no pause in between. Each sequence runs 20 times; every round must give
 * the expected verdict.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Manifest, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace } from "../../scripts/harness/namespaces.js";
import { caCertificatePem } from "../../scripts/harness/pki.js";
import { type ApplyVerdict, applyVerdict, verdictKind } from "../../scripts/harness/verdicts.js";
import {
  registerWebhooks,
  startWebhook,
  type WebhookRegistration,
  type WebhookServer,
  waitForWebhookCalled,
} from "../../scripts/harness/webhook.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

/** Rounds of every sequence. */
const ROUNDS = 20;
/** Up to 80 applies per test, on a shared 2-core machine. */
const LONG = { timeout: 600_000 };
/** A CERTIFICATE block that never ends: the PEM error of the report. */
const BROKEN = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIQ\n";

let server: WebhookServer;
let registration: WebhookRegistration;
let namespace: string;
let caPem: string;

beforeAll(async () => {
  namespace = await createTestNamespace(cp, { prefix: "fresh" });
  caPem = await caCertificatePem("e2e freshness CA");
  server = await startWebhook(cp);
  registration = await registerWebhooks(cp, {
    url: server.url,
    caBundle: server.caPem,
    failurePolicy: "Fail",
    mutating: false,
  });
  await waitForWebhookCalled(cp, server, { namespace, registration });
});

afterAll(async () => {
  await registration?.unregister();
  await server?.stop();
});

function caSecret(name: string, key: string, pem: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "Opaque",
    stringData: { [key]: pem },
  };
}

/** A DataPlane whose agent client CA is key ca.crt of Secret `secretName`. */
function dataPlane(name: string, secretName: string, annotation?: string): Manifest {
  return {
    apiVersion: "openchoreo.dev/v1alpha1",
    kind: "DataPlane",
    metadata: {
      name,
      namespace,
      ...(annotation === undefined
        ? {}
        : { annotations: { "e2e.ca-trust.dev/round": annotation } }),
    },
    spec: {
      planeID: name,
      clusterAgent: { clientCA: { secretKeyRef: { name: secretName, key: "ca.crt" } } },
    },
  };
}

/** A FrontProxy trusting the client CA bundle of Secret `secretName` (key tls.crt). */
function frontProxy(name: string, secretName: string): Manifest {
  return {
    apiVersion: "operator.kcp.io/v1alpha1",
    kind: "FrontProxy",
    metadata: { name, namespace },
    spec: { rootShard: { ref: { name: "root" } }, clientCABundleRef: { name: secretName } },
  };
}

async function apply(...docs: Manifest[]): Promise<ApplyVerdict> {
  return applyVerdict(
    await cp.kubectl(["apply", "-f", "-"], { input: toYaml(...docs), allowFail: true }),
  );
}

/** One apply in words: `allowed`, `warned: <first warning>`, `denied at <field>: <type>`. */
function outcome(verdict: ApplyVerdict): string {
  const kind = verdictKind(verdict);
  if (kind === "denied") {
    const fields = verdict.errors.flatMap((e) => e.fields.map((f) => `${f.field}: ${f.type}`));
    return `denied at ${fields.join(", ")}`;
  }
  if (kind === "warned") return `warned: ${verdict.warnings.join(" | ")}`;
  return kind;
}

const DENIED_AT_KEY = "denied at spec.clusterAgent.clientCA.secretKeyRef.key: Invalid value";

describe("one kubectl apply -f with a Secret and the object referencing it", () => {
  it(
    `on create, the object's verdict follows that file's Secret (${ROUNDS} rounds of broken then fixed)`,
    LONG,
    async ({ annotate }) => {
      const rounds: string[][] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const secretName = `create-ca-${i}`;
        const broken = await apply(
          caSecret(secretName, "ca.crt", BROKEN),
          dataPlane(`create-${i}`, secretName),
        );
        const fixed = await apply(
          caSecret(secretName, "ca.crt", caPem),
          dataPlane(`create-${i}`, secretName),
        );
        rounds.push([outcome(broken), outcome(fixed), fixed.objects.join(", ")]);
      }
      await annotate(`${rounds.length} rounds; first: ${JSON.stringify(rounds[0])}`);

      expect(rounds).toEqual(
        Array.from({ length: ROUNDS }, (_, i) => [
          DENIED_AT_KEY,
          "allowed",
          `secret/create-ca-${i} configured, dataplane.openchoreo.dev/create-${i} created`,
        ]),
      );
    },
  );

  it(
    `on update, the object's verdict (or, for an unchanged reference, its warning) follows that file's Secret (${ROUNDS} rounds)`,
    LONG,
    async ({ annotate }) => {
      await apply(caSecret("update-base", "ca.crt", caPem), dataPlane("update", "update-base"));
      const rounds: string[][] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const secretName = `update-ca-${i}`;
        // The reference moves to a Secret of the same file: broken, then fixed.
        const movedToBroken = await apply(
          caSecret(secretName, "ca.crt", BROKEN),
          dataPlane("update", secretName),
        );
        const movedToFixed = await apply(
          caSecret(secretName, "ca.crt", caPem),
          dataPlane("update", secretName),
        );
        // The reference stays; the Secret of the file changes: the object is not blocked by a
        // problem its update did not introduce, and the warning says what the Secret now holds.
        const keptBroken = await apply(
          caSecret(secretName, "ca.crt", BROKEN),
          dataPlane("update", secretName, `${i}-broken`),
        );
        const keptFixed = await apply(
          caSecret(secretName, "ca.crt", caPem),
          dataPlane("update", secretName, `${i}-fixed`),
        );
        rounds.push([
          outcome(movedToBroken),
          outcome(movedToFixed),
          outcome(keptBroken),
          outcome(keptFixed),
        ]);
      }
      await annotate(`${rounds.length} rounds; first: ${JSON.stringify(rounds[0])}`);

      // The warning is cut at 120 characters by the webhook; the reason comes first.
      const brokenWarning = expect.stringMatching(
        /^warned: spec\.clusterAgent\.clientCA\.secretKeyRef\.key: unchanged by this update, but PEM block 1: BEGIN without END \(Secret /,
      );
      expect(rounds).toEqual(
        Array.from({ length: ROUNDS }, () => [DENIED_AT_KEY, "allowed", brokenWarning, "allowed"]),
      );
    },
  );
});

describe("sequences with no pause between the Secret's change and the next apply", () => {
  it(
    `fix then retry: a FrontProxy denied over a broken tls.crt is admitted by the very next apply once the Secret is fixed (${ROUNDS} rounds)`,
    LONG,
    async ({ annotate }) => {
      const rounds: string[][] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const secretName = `retry-ca-${i}`;
        await apply(caSecret(secretName, "tls.crt", BROKEN));
        const first = await apply(frontProxy(`retry-${i}`, secretName));
        await apply(caSecret(secretName, "tls.crt", caPem));
        const retry = await apply(frontProxy(`retry-${i}`, secretName));
        rounds.push([outcome(first), outcome(retry)]);
      }
      await annotate(`${rounds.length} rounds; first: ${JSON.stringify(rounds[0])}`);

      expect(rounds).toEqual(
        Array.from({ length: ROUNDS }, () => [
          "denied at spec.clientCABundleRef.name: Invalid value",
          "allowed",
        ]),
      );
    },
  );

  it(
    `good then broken: a FrontProxy over a tls.crt broken right after a good check is denied (${ROUNDS} rounds)`,
    LONG,
    async ({ annotate }) => {
      const rounds: string[][] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const secretName = `break-ca-${i}`;
        await apply(caSecret(secretName, "tls.crt", caPem));
        const good = await apply(frontProxy(`break-${i}-a`, secretName));
        await apply(caSecret(secretName, "tls.crt", BROKEN));
        const broken = await apply(frontProxy(`break-${i}-b`, secretName));
        rounds.push([outcome(good), outcome(broken)]);
      }
      await annotate(`${rounds.length} rounds; first: ${JSON.stringify(rounds[0])}`);

      expect(rounds).toEqual(
        Array.from({ length: ROUNDS }, () => [
          "allowed",
          "denied at spec.clientCABundleRef.name: Invalid value",
        ]),
      );
    },
  );
});
