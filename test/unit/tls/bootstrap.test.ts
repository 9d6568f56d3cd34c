import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/observability/logger.js";
import { createMetrics, type Metrics } from "../../../src/observability/metrics.js";
import { issueCertificate } from "../../../src/pki/issue.js";
import { issueCa, issueServing, serviceNames } from "../../../src/tls/authority.js";
import { SelfManagedCertificates } from "../../../src/tls/bootstrap.js";
import {
  bundleFingerprints,
  type CertificateSet,
  caBundleOf,
  type Expectations,
  isIssuedBy,
  type KeyedCertificate,
  keyedCertificate,
  readCertificateSet,
  SECRET_ANNOTATIONS,
} from "../../../src/tls/certificate-set.js";
import { phaseOf, type RotationPhase } from "../../../src/tls/rotation.js";
import type { WebhookConfigurationRef } from "../../../src/tls/stores.js";
import { MemorySecretStore, MemoryWebhookConfigStore, Revisions, SteppedClock } from "./fakes.js";

const START = new Date("2026-03-01T00:00:00Z");
const NAMESPACE = "ca-trust";
const VALIDATING: WebhookConfigurationRef = {
  kind: "ValidatingWebhookConfiguration",
  name: "ca-trust-webhook",
};
const MUTATING: WebhookConfigurationRef = {
  kind: "MutatingWebhookConfiguration",
  name: "ca-trust-webhook",
};
const TIMING = {
  caLifetimeMs: 60_000,
  servingLifetimeMs: 20_000,
  publishDelayMs: 3_000,
  retireDelayMs: 6_000,
};
const SYNC_MS = 1_000;
const NAMES = serviceNames("ca-trust-webhook", NAMESPACE, [], ["127.0.0.1"]);

/** What a replica with these settings adopts (readCertificateSet), at the cluster's time. */
function expectations(now: Date): Expectations {
  return {
    now,
    caLifetimeMs: TIMING.caLifetimeMs,
    servingLifetimeMs: TIMING.servingLifetimeMs,
    names: NAMES,
  };
}

/** One simulated cluster: the Secret, both configurations (2 + 1 webhooks, empty caBundle). */
class Cluster {
  readonly clock = new SteppedClock(START);
  readonly revisions = new Revisions();
  readonly secrets = new MemorySecretStore(this.revisions);
  readonly webhooks = new MemoryWebhookConfigStore(this.revisions);
  constructor(options: { mutating?: boolean } = {}) {
    this.webhooks.put(VALIDATING, ["", ""]);
    if (options.mutating ?? true) this.webhooks.put(MUTATING, [""]);
  }

  /** Each replica's metrics registry. */
  readonly metrics = new Map<SelfManagedCertificates, Metrics>();

  /** Every log line of every replica (JSON), for the tests that read the security log. */
  readonly logLines: string[] = [];

  async replica(
    serviceName = "ca-trust-webhook",
    syncTimeoutMs?: number,
  ): Promise<SelfManagedCertificates> {
    const metrics = createMetrics({ processMetrics: false });
    const replica = await SelfManagedCertificates.create({
      secrets: this.secrets,
      webhooks: this.webhooks,
      configurations: [VALIDATING, MUTATING],
      settings: { ...TIMING, names: serviceNames(serviceName, NAMESPACE, [], ["127.0.0.1"]) },
      syncIntervalMs: SYNC_MS,
      ...(syncTimeoutMs === undefined ? {} : { syncTimeoutMs }),
      minVersion: "TLSv1.2",
      logger: createLogger("info", { write: (line: string) => this.logLines.push(line) }),
      metrics,
      secretName: `${NAMESPACE}/ca-trust-webhook-certs`,
      clock: this.clock.now,
    });
    this.metrics.set(replica, metrics);
    return replica;
  }

  /** A counter's value on `replica`'s registry, for the sample with `labels`. */
  async metric(
    replica: SelfManagedCertificates,
    name: string,
    labels: Record<string, string>,
  ): Promise<number> {
    const metric = await this.metrics.get(replica)?.registry.getSingleMetric(name)?.get();
    const sample = metric?.values.find((v) =>
      Object.entries(labels).every(([k, l]) => v.labels[k] === l),
    );
    return sample?.value ?? 0;
  }

  async set(): Promise<CertificateSet> {
    const stored = await this.secrets.get();
    if (stored === undefined) throw new Error("no Secret");
    const read = readCertificateSet(stored, expectations(this.clock.now()));
    if (!read.ok) throw new Error(read.problem);
    return read.set;
  }

  /** Advances `ms` in 1 s steps, syncing `replica` after each; returns the steps it wrote. */
  async live(replica: SelfManagedCertificates, ms: number): Promise<string[]> {
    const steps: string[] = [];
    for (let left = ms; left > 0; left -= 1000) {
      this.clock.advance(Math.min(1000, left));
      steps.push(...(await replica.sync()).steps);
    }
    return steps;
  }

  secretWrites(): string[] {
    return this.secrets.log.map((w) => `${w.op}:${w.result}`);
  }
}

/** Served certificate → the fingerprint of the CA that signed it (via the Secret's CAs). */
function servedBy(replica: SelfManagedCertificates): string | undefined {
  return replica.servedCaFingerprint();
}

/** The steps that concern CAs (serving renewals happen along the way). */
function caSteps(steps: readonly string[]): string[] {
  return steps.filter((s) => s !== "renew-serving");
}

interface Facts {
  steps: readonly string[];
  bundleWrites: readonly string[];
  secretWrites: readonly string[];
  ready: boolean;
  sameCa?: boolean;
  sameServing?: boolean;
  extra?: unknown;
}

/** Scenarios: each arranges a cluster, acts, and returns the facts compared below. */
const scenarios: [string, (c: Cluster) => Promise<Facts>, Facts][] = [
  [
    "a fresh start creates the Secret, serves it and writes the caBundle into every webhook",
    async (c) => {
      const a = await c.replica();
      const outcome = await a.sync();
      const set = await c.set();
      return {
        steps: outcome.steps,
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: a.health().ok,
        extra: {
          everyBundleIsOurs: c.webhooks.allBundles().every((b) => b === caBundleOf(set)),
          webhooks: c.webhooks.allBundles().length,
          served: a.certificate().cert === set.leaf?.pem,
          signedByCa: set.leaf !== undefined && isIssuedBy(set.leaf, set.current),
          dnsNames: set.leaf?.dnsNames,
          phase: a.phase(),
        },
      };
    },
    {
      steps: ["create"],
      bundleWrites: [
        "ValidatingWebhookConfiguration/ca-trust-webhook",
        "MutatingWebhookConfiguration/ca-trust-webhook",
      ],
      secretWrites: ["create:ok"],
      ready: true,
      extra: {
        everyBundleIsOurs: true,
        webhooks: 3,
        served: true,
        signedByCa: true,
        dnsNames: [
          "ca-trust-webhook",
          "ca-trust-webhook.ca-trust",
          "ca-trust-webhook.ca-trust.svc",
          "ca-trust-webhook.ca-trust.svc.cluster.local",
        ],
        phase: "stable",
      },
    },
  ],
  [
    "a second replica adopts the Secret and writes nothing",
    async (c) => {
      const a = await c.replica();
      const b = await c.replica();
      await a.sync();
      const outcome = await b.sync();
      return {
        steps: outcome.steps,
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: b.health().ok,
        sameCa: servedBy(a) === servedBy(b),
        sameServing: a.certificate().fingerprint === b.certificate().fingerprint,
      };
    },
    {
      steps: [],
      bundleWrites: [],
      secretWrites: ["create:ok"],
      ready: true,
      sameCa: true,
      sameServing: true,
    },
  ],
  [
    "a replica that loses the create race adopts the winner's Secret",
    async (c) => {
      const a = await c.replica();
      const b = await c.replica();
      // b's create runs into a's: a creates (and writes the caBundle) first.
      c.secrets.beforeCreate = async () => {
        await a.sync();
      };
      const outcome = await b.sync();
      return {
        steps: outcome.steps,
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: b.health().ok,
        sameCa: servedBy(a) === servedBy(b),
        sameServing: a.certificate().fingerprint === b.certificate().fingerprint,
      };
    },
    {
      steps: [],
      bundleWrites: [],
      secretWrites: ["create:ok", "create:conflict"],
      ready: true,
      sameCa: true,
      sameServing: true,
    },
  ],
  [
    "the serving certificate renews at 2/3 of its life, signed by the same CA, caBundle untouched",
    async (c) => {
      const a = await c.replica();
      const b = await c.replica();
      await a.sync();
      await b.sync();
      const before = await c.set();
      c.clock.advance(12_000); // 2/3 of 22 s (20 s + 2 s backdating) is 14.67 s after notBefore
      const early = await a.sync();
      c.clock.advance(1_000);
      const outcome = await a.sync();
      await b.sync();
      const after = await c.set();
      return {
        steps: [...early.steps, ...outcome.steps],
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: b.health().ok,
        sameCa: before.current.fingerprint === after.current.fingerprint,
        sameServing: before.leaf?.fingerprint === after.leaf?.fingerprint,
        extra: { bServesNew: b.certificate().cert === after.leaf?.pem },
      };
    },
    {
      steps: ["renew-serving"],
      bundleWrites: [],
      secretWrites: ["create:ok", "update:ok"],
      ready: true,
      sameCa: true,
      sameServing: false,
      extra: { bServesNew: true },
    },
  ],
  [
    "a renamed Service reissues the serving certificate for exactly its names, same CA",
    async (c) => {
      const old = await c.replica("ca-trust-webhook");
      const renamed = await c.replica("trust-webhook");
      await old.sync();
      const before = await c.set();
      const outcome = await renamed.sync();
      const stored = await c.secrets.get();
      const leaf = stored === undefined ? "" : (stored.data["tls.crt"] ?? "");
      return {
        steps: outcome.steps,
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: renamed.health().ok,
        sameServing: renamed.certificate().cert === before.leaf?.pem,
        // The old names are gone: a certificate names nothing but what one replica asked for.
        extra: {
          served: renamed.certificate().cert === leaf,
          oldNames: leaf !== "" && leaf === before.leaf?.pem,
          sameCa: servedBy(old) === servedBy(renamed),
        },
      };
    },
    {
      steps: ["reissue-serving"],
      bundleWrites: [],
      secretWrites: ["create:ok", "update:ok"],
      ready: true,
      sameServing: false,
      extra: { served: true, oldNames: false, sameCa: true },
    },
  ],
  [
    "an overwritten caBundle is written back at the next sync",
    async (c) => {
      const a = await c.replica();
      await a.sync();
      const foreign = await issueCa(START, 3_600_000);
      c.webhooks.put(VALIDATING, [foreign.pem, ""]); // e.g. a Helm upgrade
      const outcome = await a.sync();
      const set = await c.set();
      return {
        steps: outcome.steps,
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: a.health().ok,
        extra: {
          restored: c.webhooks.bundles(VALIDATING)?.every((b) => b === caBundleOf(set)),
          reasserted: await c.metric(a, "ca_trust_webhook_cabundle_writes_total", {
            reason: "reasserted",
          }),
        },
      };
    },
    {
      steps: [],
      bundleWrites: ["ValidatingWebhookConfiguration/ca-trust-webhook"],
      secretWrites: ["create:ok"],
      ready: true,
      extra: { restored: true, reasserted: 1 },
    },
  ],
  [
    "a Secret without a usable CA is replaced with a new set",
    async (c) => {
      c.secrets.tamper({ "ca.crt": "not a certificate", "tls.crt": "", "tls.key": "" });
      const a = await c.replica();
      const outcome = await a.sync();
      return {
        steps: outcome.steps,
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: a.health().ok,
      };
    },
    {
      steps: ["recreate"],
      bundleWrites: [
        "ValidatingWebhookConfiguration/ca-trust-webhook",
        "MutatingWebhookConfiguration/ca-trust-webhook",
      ],
      secretWrites: ["update:ok"],
      ready: true,
    },
  ],
  [
    "a Secret changed between read and write is re-read, and the renewal is not repeated",
    async (c) => {
      const a = await c.replica();
      const b = await c.replica();
      await a.sync();
      c.clock.advance(13_000);
      c.secrets.beforeUpdate = async () => {
        await b.sync(); // b renews first
      };
      const outcome = await a.sync();
      return {
        steps: outcome.steps,
        bundleWrites: outcome.bundleWrites,
        secretWrites: c.secretWrites(),
        ready: a.health().ok,
        sameServing: a.certificate().fingerprint === b.certificate().fingerprint,
      };
    },
    {
      steps: [],
      bundleWrites: [],
      secretWrites: ["create:ok", "update:ok", "update:conflict"],
      ready: true,
      sameServing: true,
    },
  ],
];

describe("SelfManagedCertificates", () => {
  it.each(scenarios)("%s", async (_name, run, expected) => {
    expect(await run(new Cluster())).toEqual(expected);
  });

  it("is not ready before its first sync, and serves a placeholder meanwhile", async () => {
    const c = new Cluster();
    const a = await c.replica();
    expect(a.health().ok).toBe(false);
    expect(a.certificate().cert).toContain("BEGIN CERTIFICATE");
    await a.sync();
    expect(a.health().ok).toBe(true);
  });

  it("is not ready while one of its configurations does not exist, and names it", async () => {
    const c = new Cluster({ mutating: false });
    const a = await c.replica();
    const outcome = await a.sync();
    expect(outcome.ok).toBe(true);
    expect(a.health()).toEqual({
      ok: false,
      reason: "MutatingWebhookConfiguration/ca-trust-webhook not found",
    });
    c.webhooks.put(MUTATING, [""]);
    await a.sync();
    expect(a.health().ok).toBe(true);
  });

  it("is not ready once the Secret has not been read for longer than the retire delay", async () => {
    const c = new Cluster();
    const a = await c.replica();
    await a.sync();
    c.clock.advance(TIMING.retireDelayMs);
    expect(a.health().ok).toBe(true);
    c.clock.advance(1);
    expect(a.health().ok).toBe(false);
    await a.sync();
    expect(a.health().ok).toBe(true);
  });

  it("gives up on a sync whose request never returns, and the next sync works", async () => {
    const c = new Cluster();
    const a = await c.replica("ca-trust-webhook", 100);
    const get = c.secrets.get.bind(c.secrets);
    let hang = true;
    c.secrets.get = () => (hang ? new Promise(() => {}) : get());
    const stuck = await a.sync();
    expect(stuck.ok).toBe(false);
    expect(a.health().ok).toBe(false);
    hang = false;
    expect((await a.sync()).steps).toEqual(["create"]);
    expect(a.health().ok).toBe(true);
  });

  it("restarts the publish delay when a caBundle loses the next CA before the switch", async () => {
    const c = new Cluster();
    const a = await c.replica();
    await a.sync();
    // Past 2/3 of the CA's life (serving certificates renew on the way).
    expect((await c.live(a, 38_500)).filter((s) => s !== "renew-serving")).toEqual(["add-next-ca"]);
    const published = await c.set();
    expect(phaseOf(published)).toBe("ca-next-published");
    c.clock.advance(2_000);
    // Someone writes back the bundle of before the rotation (only the current CA).
    c.webhooks.put(MUTATING, [caBundleOf({ current: published.current })]);
    const outcome = await a.sync();
    expect(caSteps(outcome.steps)).toEqual(["unpublish-next-ca"]);
    const republished = await c.set();
    expect(republished.nextPublishedAt).toEqual(c.clock.now());
    c.clock.advance(TIMING.publishDelayMs - 500); // the original delay would be over now
    expect(caSteps((await a.sync()).steps)).toEqual([]);
    c.clock.advance(500);
    expect(caSteps((await a.sync()).steps)).toEqual(["promote-next-ca"]);
  });
});

/**
 * Two replicas on a stepped clock through several CA rotations and serving renewals. Before
 * and after every write to the Secret or a configuration, and after every sync, the CA of the
 * certificate each replica serves must be in every webhook's caBundle.
 */
describe("rotation with two replicas", () => {
  interface Timeline {
    violations: string[];
    phases: { atMs: number; phase: RotationPhase }[];
    servings: Set<string>;
    cas: Set<string>;
    final: CertificateSet;
    replicasAgree: boolean;
  }

  async function run(
    schedule: (tMs: number) => { who: "a" | "b"; nest?: "secret" | "bundle" | "create" }[],
    durationMs: number,
    stepMs: number,
  ): Promise<Timeline> {
    const c = new Cluster();
    const replicas = { a: await c.replica(), b: await c.replica() };
    const violations: string[] = [];
    let armed = false;
    const check = (what: string) => {
      if (!armed) return;
      for (const [name, r] of Object.entries(replicas)) {
        const ca = r.servedCaFingerprint() ?? "";
        c.webhooks.allBundles().forEach((bundle, i) => {
          if (!bundleFingerprints(bundle).has(ca)) {
            violations.push(
              `t=${c.clock.now().getTime() - START.getTime()} ${what}: ${name}'s CA not in caBundle #${i}`,
            );
          }
        });
      }
    };
    const phases: Timeline["phases"] = [];
    c.secrets.observer = (what) => {
      check(what);
      const stored = c.secrets.peek();
      const read =
        stored === undefined ? undefined : readCertificateSet(stored, expectations(c.clock.now()));
      if (!what.startsWith("after") || read?.ok !== true) return;
      const phase = phaseOf(read.set);
      const atMs = c.clock.now().getTime() - START.getTime();
      if (phases.at(-1)?.phase !== phase) phases.push({ atMs, phase });
    };
    c.webhooks.observer = check;
    await replicas.a.sync();
    await replicas.b.sync();
    armed = true;
    check("converged");

    const servings = new Set<string>();
    const cas = new Set<string>();
    for (let t = 0; t <= durationMs; t += stepMs) {
      for (const { who, nest } of schedule(t)) {
        const other = who === "a" ? replicas.b : replicas.a;
        const interleave = async () => {
          await other.sync();
        };
        if (nest === "secret") c.secrets.beforeUpdate = interleave;
        if (nest === "create") c.secrets.beforeCreate = interleave;
        if (nest === "bundle") c.webhooks.beforeWrite = interleave;
        const outcome = await replicas[who].sync();
        if (!outcome.ok) violations.push(`t=${t} sync of ${who} failed: ${outcome.error}`);
        c.secrets.beforeUpdate = undefined;
        c.secrets.beforeCreate = undefined;
        c.webhooks.beforeWrite = undefined;
        check(`after ${who}'s sync`);
        for (const r of Object.values(replicas)) {
          servings.add(r.certificate().fingerprint);
          cas.add(r.servedCaFingerprint() ?? "");
        }
      }
      c.clock.advance(stepMs);
    }
    // Let both settle on the final state.
    await replicas.a.sync();
    await replicas.b.sync();
    return {
      violations,
      phases,
      servings,
      cas,
      final: await c.set(),
      replicasAgree: replicas.a.certificate().fingerprint === replicas.b.certificate().fingerprint,
    };
  }

  it("goes stable → next added → next published → promoted → stable, never serving a CA the caBundle lacks", async () => {
    // a syncs every second, b half a second later; b stalls for 2 s every 20 s.
    const timeline = await run(
      (t) => [
        ...(t % 1000 === 0 ? [{ who: "a" as const }] : []),
        ...(t % 1000 === 500 && t % 20_000 > 2_000 ? [{ who: "b" as const }] : []),
      ],
      200_000,
      250,
    );
    expect(timeline.violations).toEqual([]);
    const order = timeline.phases.map((p) => p.phase);
    const cycle: RotationPhase[] = ["ca-next-added", "ca-next-published", "ca-promoted", "stable"];
    expect(order[0]).toBe("stable");
    const rotations = Math.floor((order.length - 1) / cycle.length);
    expect(rotations).toBeGreaterThanOrEqual(3); // a rotation every ~44 s (2/3 of 66 s)
    expect(order.slice(1)).toEqual(
      Array.from({ length: rotations + 1 }, () => cycle)
        .flat()
        .slice(0, order.length - 1),
    );
    // The delays between the phases are honoured.
    for (let i = 1; i + 3 < timeline.phases.length; i += 4) {
      const [, published, promoted, stable] = timeline.phases.slice(i, i + 4);
      expect((promoted?.atMs ?? 0) - (published?.atMs ?? 0)).toBeGreaterThanOrEqual(
        TIMING.publishDelayMs,
      );
      expect((stable?.atMs ?? 0) - (promoted?.atMs ?? 0)).toBeGreaterThanOrEqual(
        TIMING.retireDelayMs,
      );
    }
    // More serving certificates than CAs: renewals happened between rotations.
    expect(timeline.servings.size).toBeGreaterThan(timeline.cas.size + 4);
    expect(timeline.replicasAgree).toBe(true);
  });

  it("holds the invariant for any interleaving of the two replicas' syncs and writes", async () => {
    const nests = [undefined, undefined, "secret", "bundle"] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            who: fc.constantFrom("a" as const, "b" as const),
            nest: fc.constantFrom(...nests),
            both: fc.boolean(),
          }),
          { minLength: 120, maxLength: 120 },
        ),
        async (ops) => {
          // One op per 500 ms (every replica syncs at least every second: `both` or the
          // other's turn); 60 s cover one rotation and several renewals.
          const timeline = await run(
            (t) => {
              const op = ops[t / 500];
              if (op === undefined) return [];
              const other = op.who === "a" ? ("b" as const) : ("a" as const);
              return [
                { who: op.who, ...(op.nest === undefined ? {} : { nest: op.nest }) },
                ...(op.both || t % 1000 === 0 ? [{ who: other }] : []),
              ];
            },
            59_500,
            500,
          );
          expect(timeline.violations).toEqual([]);
          expect(timeline.replicasAgree).toBe(true);
        },
      ),
      { numRuns: 5 },
    );
  }, 120_000);

  it("stamps the publication only once the next CA is in every caBundle", async () => {
    const c = new Cluster();
    const a = await c.replica();
    await a.sync();
    await c.live(a, 37_500);
    c.clock.advance(1_000);
    // The mutating configuration's write conflicts once (someone else edits it meanwhile).
    c.webhooks.beforeWrite = async () => {
      c.webhooks.put(MUTATING, c.webhooks.bundles(MUTATING)?.slice() ?? [""]);
    };
    const outcome = await a.sync();
    const set = await c.set();
    expect(outcome.steps).toEqual(["add-next-ca"]);
    expect((await c.secrets.get())?.annotations[SECRET_ANNOTATIONS.nextPublishedAt]).toBe(
      c.clock.now().toISOString(),
    );
    expect(c.webhooks.allBundles().every((b) => b === caBundleOf(set))).toBe(true);
  });
});

/**
 * A Secret this server did not write (issue 13: whoever may write Secrets in our namespace
 * planted a CA of theirs, valid until 2126, and a serving certificate with an extra name). It
 * is replaced, conflict-safe, before anything of it is served or written into a caBundle.
 */
describe("a planted certificate Secret", () => {
  interface Planted {
    ca: KeyedCertificate;
    leaf: KeyedCertificate;
    data: Record<string, string>;
  }
  async function planted(): Promise<Planted> {
    const issuedCa = await issueCertificate({
      commonName: "attacker CA",
      isCA: true,
      notBefore: new Date(START.getTime() - 3_600_000),
      notAfter: new Date("2126-01-01T00:00:00Z"),
    });
    const issuedLeaf = await issueCertificate({
      commonName: "ca-trust-webhook",
      usage: "server",
      dnsNames: [...NAMES.dnsNames, "webhook.attacker.example"],
      ipAddresses: ["127.0.0.1"],
      notBefore: new Date(START.getTime() - 3_600_000),
      notAfter: new Date(START.getTime() + 3_600_000),
      issuer: issuedCa,
    });
    const ca = keyedCertificate(issuedCa.certificatePem, issuedCa.privateKeyPem);
    const leaf = keyedCertificate(issuedLeaf.certificatePem, issuedLeaf.privateKeyPem);
    return {
      ca,
      leaf,
      data: { "ca.crt": ca.pem, "ca.key": ca.keyPem, "tls.crt": leaf.pem, "tls.key": leaf.keyPem },
    };
  }

  /** Records, at every write of either store, whether a caBundle held the planted CA. */
  function watchBundles(c: Cluster, ca: KeyedCertificate): string[] {
    const seen: string[] = [];
    const check = (what: string) => {
      if (c.webhooks.allBundles().some((b) => bundleFingerprints(b).has(ca.fingerprint))) {
        seen.push(what);
      }
    };
    c.webhooks.observer = check;
    c.secrets.observer = check;
    return seen;
  }

  function securityLines(c: Cluster): Record<string, unknown>[] {
    return c.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.event === "secret-refused");
  }

  it("found at start-up: replaced by a new set (one conditional update), never served, never in a caBundle, logged and counted", async () => {
    const c = new Cluster();
    const p = await planted();
    c.secrets.tamper(p.data);
    const inBundle = watchBundles(c, p.ca);
    const a = await c.replica();
    const outcome = await a.sync();
    const set = await c.set();
    expect(outcome.steps).toEqual(["recreate"]);
    expect(c.secretWrites()).toEqual(["update:ok"]);
    expect(set.current.fingerprint).not.toBe(p.ca.fingerprint);
    expect(a.certificate().cert).toBe(set.leaf?.pem);
    expect(a.certificate().cert).not.toBe(p.leaf.pem);
    expect(a.servedCaFingerprint()).toBe(set.current.fingerprint);
    expect(inBundle).toEqual([]);
    expect(c.webhooks.allBundles().every((b) => b === caBundleOf(set))).toBe(true);
    expect(a.health().ok).toBe(true);
    expect(
      await c.metric(a, "ca_trust_webhook_certificate_secret_refused_total", { key: "ca.crt" }),
    ).toBe(1);
    const lines = securityLines(c);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", security: true });
    expect(String((lines[0]?.refused as string[] | undefined)?.[0])).toMatch(
      /^ca\.crt: valid for \d+(\.\d)?d \(.*2126-01-01.*\), longer than the configured CA lifetime of 60s$/,
    );
    expect(c.logLines.join("")).not.toContain("PRIVATE KEY");
    // The next syncs find a consistent Secret: nothing more is reported or written.
    await a.sync();
    expect(securityLines(c)).toHaveLength(1);
    expect(c.secretWrites()).toEqual(["update:ok"]);
  });

  it("written over ours while running: replaced at the next sync, the good certificate served meanwhile", async () => {
    const c = new Cluster();
    const a = await c.replica();
    await a.sync();
    const ours = a.certificate().cert;
    const p = await planted();
    const inBundle = watchBundles(c, p.ca);
    c.secrets.tamper(p.data);
    expect(a.certificate().cert).toBe(ours);
    c.clock.advance(SYNC_MS);
    const outcome = await a.sync();
    expect(outcome.steps).toEqual(["recreate"]);
    expect(a.certificate().cert).not.toBe(p.leaf.pem);
    expect(inBundle).toEqual([]);
    expect(securityLines(c)).toHaveLength(1);
  });

  it("a serving certificate with an extra name signed by our own CA: reissued, same CA, never served", async () => {
    const c = new Cluster();
    const a = await c.replica();
    await a.sync();
    const before = await c.set();
    const extra = await issueServing(
      before.current,
      { dnsNames: [...NAMES.dnsNames, "webhook.attacker.example"], ipAddresses: ["127.0.0.1"] },
      c.clock.now(),
      TIMING.servingLifetimeMs,
    );
    const stored = await c.secrets.get();
    c.secrets.tamper({ ...stored?.data, "tls.crt": extra.pem, "tls.key": extra.keyPem });
    const outcome = await a.sync();
    const after = await c.set();
    expect(outcome.steps).toEqual(["reissue-serving"]);
    expect(after.current.fingerprint).toBe(before.current.fingerprint);
    expect(after.leaf?.dnsNames).toEqual(NAMES.dnsNames);
    expect(a.certificate().cert).toBe(after.leaf?.pem);
    expect(
      await c.metric(a, "ca_trust_webhook_certificate_secret_refused_total", { key: "tls.crt" }),
    ).toBe(1);
  });

  it("a planted next CA is dropped from the Secret (repair) and never reaches a caBundle", async () => {
    const c = new Cluster();
    const a = await c.replica();
    await a.sync();
    const p = await planted();
    const inBundle = watchBundles(c, p.ca);
    const stored = await c.secrets.get();
    c.secrets.tamper({ ...stored?.data, "ca-next.crt": p.ca.pem, "ca-next.key": p.ca.keyPem });
    const outcome = await a.sync();
    expect(outcome.steps).toEqual(["repair"]);
    expect(Object.keys((await c.secrets.get())?.data ?? {}).sort()).toEqual([
      "ca.crt",
      "ca.key",
      "tls.crt",
      "tls.key",
    ]);
    expect(inBundle).toEqual([]);
    expect(phaseOf(await c.set())).toBe("stable");
  });

  it("a Secret of another type (a service-account token) cannot be repaired: nothing of it is used, not ready, the reason is given", async () => {
    const c = new Cluster();
    const p = await planted();
    c.secrets.tamper(p.data, "kubernetes.io/service-account-token");
    const inBundle = watchBundles(c, p.ca);
    const a = await c.replica();
    const outcome = await a.sync();
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toBe(
      'certificate Secret ca-trust/ca-trust-webhook-certs has type "kubernetes.io/service-account-token" is not Opaque and cannot be repaired; delete it and it is recreated',
    );
    expect(c.secretWrites()).toEqual([]);
    expect(inBundle).toEqual([]);
    expect(a.certificate().cert).not.toBe(p.leaf.pem);
    expect(a.health().ok).toBe(false);
    expect(
      await c.metric(a, "ca_trust_webhook_certificate_secret_refused_total", { key: "type" }),
    ).toBe(1);
  });

  it("a Secret of type kubernetes.io/tls (made by an earlier version) is adopted", async () => {
    const c = new Cluster();
    const first = await c.replica();
    await first.sync();
    const stored = await c.secrets.get();
    c.secrets.tamper({ ...stored?.data }, "kubernetes.io/tls");
    const a = await c.replica();
    const outcome = await a.sync();
    expect(outcome).toMatchObject({ ok: true, steps: [] });
    expect(securityLines(c)).toEqual([]);
  });
});
