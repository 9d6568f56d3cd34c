import type { Config } from "./config.js";
import type { Decide } from "./core/types.js";
import type { ClusterView, Lookup } from "./core/view.js";
import { decideInjection, type InjectionPolicy } from "./inject/decision.js";
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
  const margin = config.deadlineMarginMs;
  return {
    validate: (request, context) =>
      decideValidation(request, policy, withDeadline(view, context.deadline, margin), clock()),
    mutate: (request, context) =>
      decideInjection(request, injection, withDeadline(view, context.deadline, margin), clock()),
  };
}

/**
 * The view as seen by one request that must be answered by `deadline` (epoch ms, from the
 * apiserver's `?timeout=`): a lookup still pending `marginMs` before it resolves as
 * "unavailable, timed out", so the decision is made (per `unverifiable` / `onFailure`) and
 * sent while the apiserver still listens, instead of the apiserver timing out on its own.
 */
export function withDeadline(
  view: ClusterView,
  deadline: number | undefined,
  marginMs: number,
): ClusterView {
  if (deadline === undefined) return view;
  const race = <T>(lookup: Promise<Lookup<T>>): Promise<Lookup<T>> => {
    const budget = deadline - marginMs - Date.now();
    const late: Lookup<T> = {
      found: false,
      timedOut: true,
      unavailable: `no answer from the Kubernetes API ${marginMs}ms before the apiserver's deadline`,
    };
    if (budget <= 0) return Promise.resolve(late);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(late), budget);
      lookup.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          resolve({ found: false, unavailable: (error as Error).message });
        },
      );
    });
  };
  return wrapLookups(view, race);
}

/**
 * Fault injection for tests (`--test-lookup-delay`): every lookup answers `delayMs` late, as
 * from a slow or overloaded apiserver.
 */
export function delayedView(view: ClusterView, delayMs: number): ClusterView {
  return wrapLookups(
    view,
    <T>(lookup: Promise<Lookup<T>>) =>
      new Promise<Lookup<T>>((resolve) => setTimeout(() => resolve(lookup), delayMs)),
  );
}

/** The view with every API lookup passed through `wrap`; the cached reads are unchanged. */
function wrapLookups(
  view: ClusterView,
  wrap: <T>(lookup: Promise<Lookup<T>>) => Promise<Lookup<T>>,
): ClusterView {
  return {
    getSecret: (namespace, name) => wrap(view.getSecret(namespace, name)),
    getConfigMap: (namespace, name) => wrap(view.getConfigMap(namespace, name)),
    namespaceLabels: (name) => view.namespaceLabels(name),
    featureFlag: (name) => view.featureFlag(name),
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
