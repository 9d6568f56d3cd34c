/**
 * Small builders for the objects tests create, and YAML joining for `kubectl apply -f -`.
 */
import { stringify } from "yaml";

/** A Kubernetes object as a plain value. */
export type Manifest = Record<string, unknown>;

/** Several objects as one multi-document YAML stream. */
export function toYaml(...docs: Manifest[]): string {
  return docs.map((doc) => stringify(doc)).join("---\n");
}

/**
 * A Pod that passes PodSecurity `restricted` on its own (non-root, no privilege escalation,
 * all capabilities dropped, RuntimeDefault seccomp). It is never scheduled: there is no
 * kubelet, admission is all that runs.
 */
export function restrictedPod(
  name: string,
  namespace: string,
  labels: Record<string, string> = {},
): Manifest {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: {
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65534,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "app",
          image: "registry.k8s.io/pause:3.10",
          securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
    },
  };
}

/** An Opaque Secret from string data. */
export function secret(
  name: string,
  namespace: string,
  stringData: Record<string, string>,
  labels: Record<string, string> = {},
): Manifest {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace, labels },
    type: "Opaque",
    stringData,
  };
}

/** A Connector (connectors.alauda.io/v1alpha1) that references `caSecret` when given. */
export function connector(name: string, namespace: string, caSecret?: string): Manifest {
  return {
    apiVersion: "connectors.alauda.io/v1alpha1",
    kind: "Connector",
    metadata: { name, namespace },
    spec: {
      connectorClassName: "git",
      address: "https://git.internal.example.com",
      ...(caSecret === undefined ? {} : { caCertSecretRef: { name: caSecret } }),
    },
  };
}
