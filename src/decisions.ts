import { performance } from "node:perf_hooks";
import type { DecisionSettings } from "./config.js";
import type { Decide } from "./core/types.js";
import type { Access, ClusterView, Lookup } from "./core/view.js";
import { decideInjection, type InjectionPolicy } from "./inject/decision.js";
import { decideValidation, type PolicySettings } from "./policy/engine.js";
import { decideGuard, type GuardSettings, type GuardVerdict } from "./policy/guard.js";
import { NO_REFERENCES, type ReferenceIndexView } from "./policy/references.js";
import { BUILTIN_RULES } from "./policy/rules.js";

/** How the deciders are bound besides their settings and view. */
export interface DecisionOptions {
  /** "Now" for certificate validity; default the wall clock. */
  readonly clock?: () => Date;
  /** Answer this long before a request's deadline (`--deadline-margin`); default 1 s. */
  readonly deadlineMarginMs?: number;
  /** Who references which Secret, for the guard (kube/references.ts); default: nobody. */
  readonly references?: ReferenceIndexView;
  /** Told how each guarded write was decided (the guarded-writes metric). */
  readonly onGuarded?: (resource: string, operation: string, verdict: GuardVerdict) => void;
}

/**
 * Binds the pure deciders to the decision settings, a cluster view and a clock: the functions
 * the routes call. The server, the benchmark and the offline commands build them the same way.
 */
export function buildDecisions(
  settings: DecisionSettings,
  view: ClusterView,
  options: DecisionOptions = {},
): { validate: Decide; mutate: Decide; guard: Decide } {
  const clock = options.clock ?? (() => new Date());
  const policy = policySettings(settings);
  const injection: InjectionPolicy = {
    settings: settings.injection,
    onFailure: settings.injectionOnFailure,
    expiringWithinDays: settings.expiringWithinDays,
  };
  const margin = options.deadlineMarginMs ?? 1_000;
  const guard = guardSettings(settings);
  const references = options.references ?? NO_REFERENCES;
  const onGuarded = options.onGuarded;
  // Each validation sees the view through its deadline, and reads Secrets no older than itself
  // (injection reads no Secret: its view needs no freshness wrapper on the hot path).
  const forRequest = (deadline: number | undefined) =>
    withDeadline(freshFrom(view, performance.now()), deadline, margin);
  return {
    validate: (request, context) =>
      decideValidation(request, policy, forRequest(context.deadline), clock()),
    mutate: (request, context) =>
      decideInjection(request, injection, withDeadline(view, context.deadline, margin), clock()),
    // From memory only (the index, the request, the watched flag and Namespace caches): no
    // lookup, so no deadline to race.
    guard: async (request) => {
      const outcome = decideGuard(request, guard, references, view, clock());
      // Bounded labels: a forged review must not mint new time series.
      const resource =
        request.kind.group !== ""
          ? "other"
          : request.kind.kind === "Secret"
            ? "secrets"
            : request.kind.kind === "ConfigMap"
              ? "configmaps"
              : "other";
      onGuarded?.(resource, request.operation, outcome.verdict);
      return outcome.decision;
    },
  };
}

/** The Secret guard's settings: the PEM findings' window and the injection CA ConfigMap. */
export function guardSettings(settings: DecisionSettings): GuardSettings {
  const { injection } = settings;
  return {
    policy: { expiringWithinDays: settings.expiringWithinDays },
    // With ClusterTrustBundles as the source, no ConfigMap is injected, so none is guarded.
    caConfigMap:
      injection.caSource?.kind === "clustertrustbundle"
        ? undefined
        : {
            name: injection.customCa.configMapName,
            key: injection.customCa.configMapKey,
            onFailure: settings.injectionOnFailure,
          },
  };
}

/**
 * The view as seen by one decision that started at `startedAfter` (`performance.now()`): its
 * Secret lookups share no API read sent before that moment, so a verdict never rests on a
 * Secret older than its request (docs/architecture.md "The cluster view and its caches").
 */
export function freshFrom(view: ClusterView, startedAfter: number): ClusterView {
  return {
    getSecret: (namespace, name, freshness) =>
      view.getSecret(namespace, name, {
        startedAfter: Math.max(startedAfter, freshness?.startedAfter ?? startedAfter),
      }),
    getConfigMap: (namespace, name) => view.getConfigMap(namespace, name),
    getClusterTrustBundles: (selection) => view.getClusterTrustBundles(selection),
    getTrustManagerBundle: (name) => view.getTrustManagerBundle(name),
    namespaceLabels: (name) => view.namespaceLabels(name),
    featureFlag: (name) => view.featureFlag(name),
    mayGet: (user, resource, namespace, name) => view.mayGet(user, resource, namespace, name),
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
  const race = <T>(answer: Promise<T>, late: T, failed: (reason: string) => T): Promise<T> => {
    const budget = deadline - marginMs - Date.now();
    if (budget <= 0) return Promise.resolve(late);
    return new Promise((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      answer.then(
        (value) => {
          settled = true;
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          settled = true;
          clearTimeout(timer);
          resolve(failed((error as Error).message));
        },
      );
      // The timer is armed only for an answer that is not already there: a lookup answered
      // from a watch cache settles before this microtask runs, and a timer per review for it
      // (created, inserted, cleared) was 1-2 % of a Pod review's CPU.
      queueMicrotask(() => {
        if (!settled) timer = setTimeout(() => resolve(late), budget);
      });
    });
  };
  const reason = `no answer from the Kubernetes API ${marginMs}ms before the apiserver's deadline`;
  return wrapAnswers(view, {
    lookup: (answer) =>
      race(answer, { found: false, timedOut: true, unavailable: reason }, (unavailable) => ({
        found: false,
        unavailable,
      })),
    access: (answer) =>
      race(answer, { allowed: false, timedOut: true, unavailable: reason }, (unavailable) => ({
        allowed: false,
        unavailable,
      })),
  });
}

/**
 * Fault injection for tests (`--test-lookup-delay`): every lookup (and access review) answers
 * `delayMs` late, as from a slow or overloaded apiserver.
 */
export function delayedView(view: ClusterView, delayMs: number): ClusterView {
  const later = <T>(answer: Promise<T>) =>
    new Promise<T>((resolve) => setTimeout(() => resolve(answer), delayMs));
  return wrapAnswers(view, { lookup: later, access: later });
}

/** The view with every API answer passed through a wrapper; the cached reads are unchanged. */
function wrapAnswers(
  view: ClusterView,
  wrap: {
    lookup: <T>(answer: Promise<Lookup<T>>) => Promise<Lookup<T>>;
    access: (answer: Promise<Access>) => Promise<Access>;
  },
): ClusterView {
  return {
    getSecret: (namespace, name, freshness) =>
      wrap.lookup(view.getSecret(namespace, name, freshness)),
    getConfigMap: (namespace, name) => wrap.lookup(view.getConfigMap(namespace, name)),
    getClusterTrustBundles: (selection) => wrap.lookup(view.getClusterTrustBundles(selection)),
    getTrustManagerBundle: (name) => wrap.lookup(view.getTrustManagerBundle(name)),
    namespaceLabels: (name) => view.namespaceLabels(name),
    featureFlag: (name) => view.featureFlag(name),
    mayGet: (user, resource, namespace, name) =>
      wrap.access(view.mayGet(user, resource, namespace, name)),
  };
}

/** The validation engine's settings from the decision settings (built-in rules first). */
export function policySettings(settings: DecisionSettings): PolicySettings {
  return {
    rules: [...BUILTIN_RULES, ...settings.rules],
    systemNamespace: settings.systemNamespace,
    missingSecret: settings.missingSecret,
    allowedSecretNamespaces: settings.allowedSecretNamespaces,
    trustedSecretNamespaces: settings.trustedSecretNamespaces,
    unverifiable: settings.unverifiable,
    authorizeReferences: settings.authorizeReferences,
    secretNamespaces: settings.secretNamespaces,
    expiringWithinDays: settings.expiringWithinDays,
  };
}

/** A view for a server without a cluster: every lookup is "unavailable" with the reason. */
export function unavailableView(reason: string): ClusterView {
  return {
    getSecret: async () => ({ found: false, unavailable: reason }),
    getConfigMap: async () => ({ found: false, unavailable: reason }),
    getClusterTrustBundles: async () => ({ found: false, unavailable: reason }),
    getTrustManagerBundle: async () => ({ found: false, unavailable: reason }),
    namespaceLabels: () => undefined,
    featureFlag: () => false,
    mayGet: async () => ({ allowed: false, unavailable: reason }),
  };
}
