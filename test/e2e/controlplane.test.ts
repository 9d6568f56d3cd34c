/**
 * The harness's own promises, checked against the real control plane: the ServiceAccount
 * admission plugin is on (so test namespaces need, and get, a `default` ServiceAccount), and
 * kube-apiserver can be stopped and started again from a test without losing etcd's data.
 */
import { describe, expect, it } from "vitest";
import { restrictedPod, toYaml } from "../../scripts/harness/manifests.js";
import { createTestNamespace, RESTRICTED, uniqueName } from "../../scripts/harness/namespaces.js";
import { useControlPlane } from "./harness/context.js";

const cp = useControlPlane();

describe("the e2e control plane", () => {
  it("admits a restricted Pod in a test namespace, with the ServiceAccount token volume", async () => {
    const namespace = await createTestNamespace(cp, { prefix: "sa", labels: { ...RESTRICTED } });

    const created = await cp.kubectl(["create", "-o", "json", "-f", "-"], {
      input: toYaml(restrictedPod("app", namespace)),
    });

    const pod = JSON.parse(created.stdout) as {
      spec: { serviceAccountName: string; volumes: { name: string }[] };
    };
    expect(pod.spec.serviceAccountName).toBe("default");
    expect(pod.spec.volumes.map((v) => v.name)).toEqual([
      expect.stringMatching(/^kube-api-access-/),
    ]);
  });

  it("refuses a Pod where the default ServiceAccount is missing (plugin on)", async () => {
    const namespace = uniqueName("no-sa");
    await cp.kubectl(["create", "namespace", namespace]);

    const created = await cp.request(
      "POST",
      `/api/v1/namespaces/${namespace}/pods`,
      restrictedPod("app", namespace),
    );

    expect(created.status).toBe(403);
    expect(created.json).toMatchObject({ reason: "Forbidden" });
  });

  it("keeps its data across a kube-apiserver stop and start", async () => {
    const namespace = await createTestNamespace(cp, { prefix: "restart" });
    await cp.kubectl(["create", "configmap", "survivor", "-n", namespace, "--from-literal=a=b"]);

    await cp.stopApiServer();
    const whileDown = await cp.kubectl(["get", "namespace", namespace, "--request-timeout=2s"], {
      allowFail: true,
    });
    await cp.startApiServer();
    const after = await cp.kubectl([
      "get",
      "configmap",
      "survivor",
      "-n",
      namespace,
      "-o",
      "jsonpath={.data.a}",
    ]);

    expect(whileDown.code).toBe(1);
    expect(after.stdout).toBe("b");
  });
});
