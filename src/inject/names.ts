/**
 * Kubernetes name syntax, as the apiserver validates it (k8s.io/apimachinery
 * `pkg/util/validation/validation.go`). Pure predicates: callers decide what an invalid name
 * means (deny, warn or refuse the configuration).
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `IsDNS1123Label`: names of volumes and containers (≤ 63 characters). */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

/** `IsDNS1123Subdomain`: names of ConfigMaps and most other objects (≤ 253 characters). */
export function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

/**
 * `IsCIdentifier`: the portable environment variable name. Kubernetes accepts more (any
 * printable character but `=`), but the names we inject are read by shells and runtimes that
 * expect identifiers, so the configuration is held to this stricter form.
 */
export function isEnvVarName(value: string): boolean {
  return C_IDENTIFIER.test(value);
}
