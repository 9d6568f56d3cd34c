import type { Decide } from "./admission/routes.js";
import type { Config } from "./config.js";
import { decideInjection, type InjectionPolicy } from "./inject/decision.js";
import type { ClusterView } from "./kube/view.js";
import { decideValidation, type PolicySettings } from "./policy/engine.js";
import { BUILTIN_RULES } from "./policy/rules.js";

/**
 * Binds the pure deciders to a configuration, a cluster view and a clock: the functions the
 * routes call. The server, the benchmark and the offline commands build them the same way.
 */
export function buildDecisions(
  config: Config,
  view: ClusterView,
  clock: () => Date = () => new Date(),
): { validate: Decide; mutate: Decide } {
  const policy = policySettings(config);
  const injection: InjectionPolicy = {
    settings: config.injection,
    onFailure: config.injectionOnFailure,
    expiringWithinDays: config.expiringWithinDays,
  };
  return {
    validate: (request) => decideValidation(request, policy, view, clock()),
    mutate: (request) => decideInjection(request, injection, view, clock()),
  };
}

/** The validation engine's settings from the configuration (built-in rules first). */
export function policySettings(config: Config): PolicySettings {
  return {
    rules: [...BUILTIN_RULES, ...config.rules],
    systemNamespace: config.systemNamespace,
    missingSecret: config.missingSecret,
    allowedSecretNamespaces: config.allowedSecretNamespaces,
    unverifiable: config.unverifiable,
    expiringWithinDays: config.expiringWithinDays,
  };
}

/** A view for a server without a cluster: every lookup is "unavailable" with the reason. */
export function unavailableView(reason: string): ClusterView {
  return {
    getSecret: async () => ({ found: false, unavailable: reason }),
    getConfigMap: async () => ({ found: false, unavailable: reason }),
    namespaceLabels: () => undefined,
    featureFlag: () => false,
  };
}
