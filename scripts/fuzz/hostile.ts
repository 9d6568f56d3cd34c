/**
 * The hostile shapes of issue 12 as request generators for the network fuzzer (and the e2e
 * hostile test): each is an AdmissionReview (or a body) that once crashed, starved or
 * amplified the webhook. Large bodies are built once per shape as text with a uid placeholder,
 * so a run can send thousands of them cheaply; every request gets its own uid.
 */
import { caBundle } from "../bench/fixtures.js";

/** One hostile request: what to send and where. */
export interface HostileRequest {
  shape: string;
  path: "/validate" | "/mutate";
  body: Buffer;
}

const UID = "__UID__";

/** An AdmissionReview of `object` (any JSON text), as the apiserver would send it. */
function reviewText(
  kind: { group: string; version: string; kind: string },
  resource: string,
  namespace: string | undefined,
  operation: string,
  object: string,
  oldObject = "null",
): string {
  const request = [
    `"uid":"${UID}"`,
    `"kind":${JSON.stringify(kind)}`,
    `"resource":${JSON.stringify({ group: kind.group, version: kind.version, resource })}`,
    ...(namespace === undefined ? [] : [`"namespace":${JSON.stringify(namespace)}`]),
    `"operation":"${operation}"`,
    `"userInfo":{"username":"mallory","groups":["system:authenticated"]}`,
    `"object":${object}`,
    `"oldObject":${oldObject}`,
    `"dryRun":true`,
  ].join(",");
  return `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{${request}}}`;
}

const POD = { group: "", version: "v1", kind: "Pod" };
const DATA_PLANE = { group: "openchoreo.dev", version: "v1alpha1", kind: "DataPlane" };
const SECRET = { group: "", version: "v1", kind: "Secret" };

const repeat = (item: string, n: number) => Array(n).fill(item).join(",");

/** A Pod labelled for injection, with `spec` (JSON text). */
function pod(namespace: string, spec: string): string {
  return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hostile","namespace":"${namespace}","labels":{"ca-trust.dev/inject":"true"}},"spec":${spec}}`;
}

function dataPlane(namespace: string, spec: string, metadata = ""): string {
  return `{"apiVersion":"openchoreo.dev/v1alpha1","kind":"DataPlane","metadata":{"name":"hostile","namespace":"${namespace}"${metadata}},"spec":${spec}}`;
}

/** The large shapes, built once. */
export interface HostileShapes {
  /** 1,000,000 empty tolerations in an opted-in Pod (3.0 MB): refused by value count. */
  tolerations: string;
  /** A DataPlane with a 1,000,000-element array in its spec (2 MB). */
  dataPlaneArray: string;
  /** 3.6 MiB of `[[[[...]]]]`, no review around it: refused by depth, a 400. */
  nesting: Buffer;
  /** A DataPlane with 200,001 distinct keys in one object. */
  manyKeys: string;
  /** A DataPlane with a 3 MiB string. */
  longString: string;
  /** An inline CA of 4,900 certificates (2.8 MB) in a DataPlane: refused by count. */
  bundle: string;
  /** A labelled CA Secret with 70,000 keys that are not PEM: a capped denial message. */
  secretKeys: string;
  /** A Pod of 12,000 containers: a capped patch. */
  containers: string;
  /** The finalizer removal of a DataPlane holding 1,000,000 values: allowed undecoded. */
  deleting: string;
}

/** Builds every large shape (about 25 MB of text; a second or two). */
export async function hostileShapes(namespace: string): Promise<HostileShapes> {
  const certificates = await caBundle(50, "Hostile");
  const cert = certificates.split(/(?<=-----END CERTIFICATE-----\n)/);
  const bundle = Array.from({ length: 4_900 }, (_, i) => cert[i % cert.length]).join("");
  const million = `[${repeat("0", 1_000_000)}]`;
  const keys = Array.from({ length: 200_001 }, (_, i) => `"k${i}":0`).join(",");
  const secretData = Array.from(
    { length: 70_000 },
    (_, i) => `"key-${i}.crt":"${Buffer.from(`not a certificate ${i}`).toString("base64")}"`,
  ).join(",");
  const containers = Array.from(
    { length: 12_000 },
    (_, i) => `{"name":"c${i}","image":"busybox"}`,
  ).join(",");
  const deletionMeta = `,"finalizers":["example.com/keep"],"deletionTimestamp":"2026-12-01T00:00:00Z"`;
  return {
    tolerations: reviewText(
      POD,
      "pods",
      namespace,
      "CREATE",
      pod(
        namespace,
        `{"containers":[{"name":"app","image":"nginx"}],"tolerations":[${repeat("{}", 1_000_000)}]}`,
      ),
    ),
    dataPlaneArray: reviewText(
      DATA_PLANE,
      "dataplanes",
      namespace,
      "CREATE",
      dataPlane(namespace, `{"padding":${million}}`),
    ),
    nesting: Buffer.from(`${"[".repeat(1_887_436)}${"]".repeat(1_887_436)}`),
    manyKeys: reviewText(
      DATA_PLANE,
      "dataplanes",
      namespace,
      "CREATE",
      dataPlane(namespace, `{"padding":{${keys}}}`),
    ),
    longString: reviewText(
      DATA_PLANE,
      "dataplanes",
      namespace,
      "CREATE",
      dataPlane(namespace, `{"padding":"${"x".repeat(3 * 1024 * 1024)}"}`),
    ),
    bundle: reviewText(
      DATA_PLANE,
      "dataplanes",
      namespace,
      "CREATE",
      dataPlane(namespace, `{"clusterAgent":{"clientCA":{"value":${JSON.stringify(bundle)}}}}`),
    ),
    secretKeys: reviewText(
      SECRET,
      "secrets",
      "connectors-system",
      "CREATE",
      `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"hostile","namespace":"connectors-system","labels":{"connectors.cpaas.io/ca-cert":"true"}},"data":{${secretData}}}`,
    ),
    containers: reviewText(
      POD,
      "pods",
      namespace,
      "CREATE",
      pod(namespace, `{"containers":[${containers}]}`),
    ),
    deleting: reviewText(
      DATA_PLANE,
      "dataplanes",
      namespace,
      "UPDATE",
      dataPlane(namespace, `{"padding":${million}}`, deletionMeta),
      dataPlane(namespace, "{}", deletionMeta),
    ),
  };
}

/** The large shapes with the webhook path each goes to. */
export const LARGE_SHAPES: readonly [keyof HostileShapes, "/validate" | "/mutate"][] = [
  ["tolerations", "/mutate"],
  ["dataPlaneArray", "/validate"],
  ["nesting", "/validate"],
  ["manyKeys", "/validate"],
  ["longString", "/validate"],
  ["bundle", "/validate"],
  ["secretKeys", "/validate"],
  ["containers", "/mutate"],
  ["deleting", "/validate"],
];

/** One large hostile request with a fresh uid. */
export function largeRequest(
  shapes: HostileShapes,
  which: keyof HostileShapes,
  path: "/validate" | "/mutate",
  uid: string,
): HostileRequest {
  const shape = shapes[which];
  const body = typeof shape === "string" ? Buffer.from(shape.replace(UID, uid)) : shape;
  return { shape: which, path, body };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A small review with prototype-polluting keys at a random place: `__proto__` or
 * `constructor.prototype`, holding a value that would change every object if it got through.
 */
export function pollutedReview(seed: Json, rnd: () => number): Buffer {
  const doc = JSON.parse(JSON.stringify(seed)) as Json;
  const objects: { [key: string]: Json }[] = [];
  const walk = (node: Json, depth: number): void => {
    if (depth > 8 || node === null || typeof node !== "object") return;
    if (!Array.isArray(node)) objects.push(node);
    for (const child of Object.values(node)) walk(child, depth + 1);
  };
  walk(doc, 0);
  const target = objects[Math.floor(rnd() * objects.length)] ?? {};
  const key = rnd() < 0.5 ? "__proto__" : "constructor";
  const value = key === "__proto__" ? { polluted: true } : { prototype: { polluted: true } };
  // JSON.stringify never writes a `__proto__` own key set by assignment: splice it as text.
  const marker = `"__fuzz_marker__":0`;
  target.__fuzz_marker__ = 0;
  return Buffer.from(JSON.stringify(doc).replace(marker, `"${key}":${JSON.stringify(value)}`));
}
