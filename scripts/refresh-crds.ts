/**
 * Regenerates test/e2e/crds/ from the upstream CRDs (docs/e2e-crds.md): each file is the
 * upstream CustomResourceDefinition at a pinned commit with every schema `description` removed
 * and nothing else changed (types, `required`, defaults, enums, validations, and
 * `x-kubernetes-preserve-unknown-fields` only where upstream has it), so that the e2e
 * apiserver decodes, prunes and validates objects exactly as a cluster running that release.
 *
 *   node dist/scripts/refresh-crds.js openchoreo/openchoreo=/src/openchoreo \
 *     kcp-dev/kcp-operator=/src/kcp-operator alauda/devops-connectors-docs=/src/connectors-docs
 *
 * Each `owner/name=DIR` is a git clone holding the pinned commit (`git fetch` it first). Files
 * of repositories not given are left as they are. To move to a newer release, change the
 * commit below, run this, and rerun the e2e suite.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse, stringify } from "yaml";
import { CRD_DIR, LEGACY_CRD_DIR } from "./harness/crds.js";

/** One upstream CRD file and where its copy goes. */
interface Source {
  repo: string;
  commit: string;
  /** Which release the commit is (for people). */
  release: string;
  path: string;
  /** Absolute output path. */
  out: string;
  /** Serve the schema under another API group (the legacy set, so it cannot collide). */
  group?: string;
}

const OPENCHOREO = {
  repo: "openchoreo/openchoreo",
  commit: "ad3f5030fcfd76172beb3d7c97a459d73368840b",
  release: "after v1.2.3",
};
const OPENCHOREO_V0_17 = {
  repo: "openchoreo/openchoreo",
  commit: "426d934b42757f6ffc034c35a2610cf30549f64d",
  release: "v0.17.0",
};
const KCP_OPERATOR = {
  repo: "kcp-dev/kcp-operator",
  commit: "406169b3aec30f7a28a16ef234b0f36d8b9492de",
  release: "after v0.9.0",
};
const CONNECTORS = {
  repo: "alauda/devops-connectors-docs",
  commit: "e943d0f7976f00b14d0413c31dce5cf4b7059f24",
  release: "docs synced from connectors-operator 445e5702",
};

const file = (dir: string, name: string) => join(dir, name);

/** Every generated file. The ConnectorsConfig CRD is not here: upstream publishes none. */
export const SOURCES: readonly Source[] = [
  ...[
    "dataplanes",
    "clusterdataplanes",
    "workflowplanes",
    "clusterworkflowplanes",
    "observabilityplanes",
    "clusterobservabilityplanes",
  ].map((plural) => ({
    ...OPENCHOREO,
    path: `config/crd/bases/openchoreo.dev_${plural}.yaml`,
    out: file(CRD_DIR, `openchoreo.dev_${plural}.yaml`),
  })),
  ...[
    "rootshards",
    "shards",
    "frontproxies",
    "virtualworkspaces",
    "cacheservers",
    "kubeconfigs",
  ].map((plural) => ({
    ...KCP_OPERATOR,
    path: `config/crd/bases/operator.kcp.io_${plural}.yaml`,
    out: file(CRD_DIR, `operator.kcp.io_${plural}.yaml`),
  })),
  ...["connectors", "connectorclasses"].map((plural) => ({
    ...CONNECTORS,
    path: `docs/shared/crds/connectors/connectors.alauda.io_${plural}.yaml`,
    out: file(CRD_DIR, `connectors.alauda.io_${plural}.yaml`),
  })),
  // The pre-v1.0 spelling `clientCA.secretRef` and kinds BuildPlane / ClusterBuildPlane. In
  // their own group (the one OpenChoreo's docs text uses) so they live beside the v1 set.
  ...["buildplanes", "clusterbuildplanes"].map((plural) => ({
    ...OPENCHOREO_V0_17,
    path: `config/crd/bases/openchoreo.dev_${plural}.yaml`,
    out: file(LEGACY_CRD_DIR, `core.openchoreo.dev_${plural}.yaml`),
    group: "core.openchoreo.dev",
  })),
];

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A JSON-schema node without its `description`, recursively. Only schema positions are
 * walked (`properties` values, `items`, `additionalProperties`, the combinators), so a
 * property *named* `description` stays.
 */
export function withoutDescriptions(schema: unknown): unknown {
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "description") continue;
    if (key === "properties" && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, withoutDescriptions(sub)]),
      );
    } else if (key === "items" || key === "additionalProperties" || key === "not") {
      out[key] = withoutDescriptions(value);
    } else if ((key === "allOf" || key === "anyOf" || key === "oneOf") && Array.isArray(value)) {
      out[key] = value.map(withoutDescriptions);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The CRD as installed by the e2e suite: schema structure unchanged, prose removed. */
export function structuralCrd(crd: unknown, group?: string): Json {
  if (!isObject(crd) || crd.kind !== "CustomResourceDefinition" || !isObject(crd.spec)) {
    throw new Error("not a CustomResourceDefinition");
  }
  const spec = crd.spec;
  const names = spec.names as { plural: string };
  const versions = (spec.versions as Json[]).map((version) => {
    const out: Json = { ...version };
    if (isObject(version.schema)) {
      out.schema = { openAPIV3Schema: withoutDescriptions(version.schema.openAPIV3Schema) };
    }
    if (Array.isArray(version.additionalPrinterColumns)) {
      out.additionalPrinterColumns = version.additionalPrinterColumns.map(withoutDescriptions);
    }
    return out;
  });
  const targetGroup = group ?? (spec.group as string);
  return {
    apiVersion: crd.apiVersion,
    kind: crd.kind,
    metadata: { name: `${names.plural}.${targetGroup}` },
    spec: { ...spec, group: targetGroup, versions },
  };
}

function header(source: Source, upstreamBytes: number): string {
  const lines = [
    `Generated by scripts/refresh-crds.ts; do not edit (docs/e2e-crds.md).`,
    `Upstream: ${source.repo}@${source.commit} (${source.release})`,
    `  ${source.path} (${upstreamBytes} bytes), descriptions removed, schema unchanged.`,
  ];
  if (source.group !== undefined) {
    lines.push(`  Served under API group ${source.group} (upstream: openchoreo.dev) so that this`);
    lines.push("  older schema can be installed beside the current one.");
  }
  return `${lines.map((line) => `# ${line}`).join("\n")}\n`;
}

function main(argv: readonly string[]): number {
  const clones = new Map<string, string>();
  for (const arg of argv) {
    const at = arg.indexOf("=");
    if (at <= 0) {
      process.stderr.write(`usage: refresh-crds owner/name=GIT_DIR ... (got "${arg}")\n`);
      return 2;
    }
    clones.set(arg.slice(0, at), arg.slice(at + 1));
  }
  if (clones.size === 0) {
    process.stderr.write("usage: refresh-crds owner/name=GIT_DIR ...\n");
    return 2;
  }
  for (const source of SOURCES) {
    const dir = clones.get(source.repo);
    if (dir === undefined) continue;
    let text: string;
    try {
      text = execFileSync("git", ["-C", dir, "show", `${source.commit}:${source.path}`], {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch {
      process.stderr.write(
        `${dir}: no ${source.path} at ${source.commit} (git fetch the commit into that clone)\n`,
      );
      return 1;
    }
    const crd = structuralCrd(parse(text), source.group);
    const body = header(source, Buffer.byteLength(text)) + stringify(crd, { lineWidth: 0 });
    mkdirSync(dirname(source.out), { recursive: true });
    writeFileSync(source.out, body);
    process.stdout.write(
      `${source.out}: ${Buffer.byteLength(body)} bytes (upstream ${Buffer.byteLength(text)})\n`,
    );
  }
  return 0;
}

if (process.argv[1]?.endsWith("refresh-crds.js")) process.exitCode = main(process.argv.slice(2));
