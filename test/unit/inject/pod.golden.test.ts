/**
 * Golden-patch tests: one Pod per scenario in test/fixtures/pods/<scenario>.yaml, the expected
 * plan (operations, warnings, conflict) in test/golden/inject/<scenario>.json.
 * Regenerate with `UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/inject`, then
 * review the diff; the files are formatted with Biome so that `npm run lint` stays clean.
 */

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import jsonpatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { KubeObject } from "../../../src/core/types.js";
import type { ClusterTrustBundleSelection } from "../../../src/core/view.js";
import { configMapNameFor, type PodPatchPlan, planPodPatch } from "../../../src/inject/pod.js";
import { DEFAULT_INJECTION_SETTINGS } from "../../../src/inject/settings.js";

const FIXTURES = fileURLToPath(new URL("../../fixtures/pods/", import.meta.url));
const GOLDEN = fileURLToPath(new URL("../../golden/inject/", import.meta.url));
const BIOME = fileURLToPath(new URL("../../../node_modules/.bin/biome", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === "1";

/** The hash the fixtures that are already injected carry. */
const BUNDLE_SHA256 = "3c9b1f0e1a6f5a2d2c4d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b";

/** The ClusterTrustBundle selections of the `ctb-*` scenarios (source clustertrustbundle). */
const CTB_BY_NAME: ClusterTrustBundleSelection = { name: "corp-roots" };
const CTB_BY_SIGNER: ClusterTrustBundleSelection = {
  signerName: "example.com/corp-roots",
  labelSelector: {
    matchLabels: { "trust.example.com/audience": "internal" },
    matchExpressions: [{ key: "trust.example.com/retired", operator: "DoesNotExist" }],
  },
};

/**
 * Every scenario, with the sentence it proves, and the ClusterTrustBundle selection when the
 * source is clustertrustbundle (else the ConfigMap). Adding a scenario = a fixture + a row.
 */
const SCENARIOS: readonly [
  scenario: string,
  sentence: string,
  clusterTrustBundle?: ClusterTrustBundleSelection,
][] = [
  ["plain-pod", "a plain Pod gets both volumes, the init container, mounts, env and the marker"],
  ["existing-init-containers", "ours goes first and existing init containers, sidecars too, shift"],
  ["several-containers", "every container gets only the mounts and env it lacks"],
  ["preset-aws-ca-bundle", "an AWS_CA_BUNDLE the container sets, value or valueFrom, is kept"],
  ["existing-cert-mounts", "containers mounting at, inside or above our paths are left alone"],
  ["volume-name-clash", "a volume with our store's name and another source is a conflict"],
  [
    "custom-ca-volume-clash",
    "a volume with our CA volume's name and another ConfigMap is a conflict",
  ],
  ["init-container-name-clash", "an init container with our name that is not ours is a conflict"],
  ["generate-name", "a generateName Pod gets the marker escaped among existing annotations"],
  ["ephemeral-containers", "ephemeral containers are never touched"],
  ["fully-injected", "an already injected Pod gets nothing"],
  ["partially-injected", "containers another webhook added after us get only their pieces"],
  ["init-container-before-ours", "an init container inserted before ours is left alone"],
  ["no-containers", "a Pod without containers gets nothing"],
  ["windows-pod", "a Windows Pod gets nothing but a warning"],
  ["trust-profiles", "trust profiles add their env, keep preset values and warn about unknowns"],
  ["configmap-annotation", "the ConfigMap annotation picks the volume's ConfigMap"],
  [
    "ctb-by-name",
    "a projected ClusterTrustBundle volume by name replaces the ConfigMap volume",
    CTB_BY_NAME,
  ],
  [
    "ctb-by-signer",
    "a projected volume selects a signer's bundles with an explicit label selector",
    CTB_BY_SIGNER,
  ],
  [
    "ctb-volume-clash",
    "a ConfigMap volume with our CA volume's name is a conflict for the projected source",
    CTB_BY_NAME,
  ],
];

function loadPod(scenario: string): KubeObject {
  return parse(readFileSync(`${FIXTURES}${scenario}.yaml`, "utf8")) as KubeObject;
}

function planFor(pod: KubeObject, clusterTrustBundle?: ClusterTrustBundleSelection): PodPatchPlan {
  if (clusterTrustBundle !== undefined) {
    return planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, {
      clusterTrustBundle,
      sha256: BUNDLE_SHA256,
    });
  }
  const choice = configMapNameFor(pod, DEFAULT_INJECTION_SETTINGS);
  if (!choice.ok) throw new Error(choice.message);
  return planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, {
    configMapName: choice.name,
    sha256: BUNDLE_SHA256,
  });
}

function writeGolden(path: string, plan: PodPatchPlan): void {
  writeFileSync(path, `${JSON.stringify(plan, null, 2)}\n`);
  execFileSync(BIOME, ["format", "--write", path], { stdio: "ignore" });
}

describe("planPodPatch golden patches", () => {
  it("has exactly one fixture and one golden file per listed scenario", () => {
    const fixtures = readdirSync(FIXTURES)
      .filter((file) => file.endsWith(".yaml"))
      .map((file) => file.slice(0, -".yaml".length))
      .sort();
    const listed = SCENARIOS.map(([scenario]) => scenario).sort();
    expect(fixtures).toEqual(listed);
    if (!UPDATE) {
      expect(listed.filter((scenario) => !existsSync(`${GOLDEN}${scenario}.json`))).toEqual([]);
    }
  });

  it.each(SCENARIOS)("%s: %s", (scenario, _sentence, clusterTrustBundle) => {
    const plan = planFor(loadPod(scenario), clusterTrustBundle);
    const path = `${GOLDEN}${scenario}.json`;
    if (UPDATE) writeGolden(path, plan);
    expect(plan).toEqual(JSON.parse(readFileSync(path, "utf8")));
  });

  it.each(SCENARIOS)(
    "%s: the plan applies with validation and planning again adds nothing",
    (scenario, _sentence, clusterTrustBundle) => {
      const pod = loadPod(scenario);
      const plan = planFor(pod, clusterTrustBundle);
      const patched = jsonpatch.applyPatch(structuredClone(pod), plan.operations, true, false)
        .newDocument as KubeObject;
      const again = planFor(patched, clusterTrustBundle);
      expect(again.operations).toEqual([]);
      expect(again.conflict).toBe(plan.conflict);
    },
  );
});
