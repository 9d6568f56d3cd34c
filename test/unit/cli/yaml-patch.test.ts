/**
 * The YAML writer of `inject` against fast-json-patch: the webhook's patch for every Pod
 * fixture, applied to the parsed YAML document, gives exactly the object fast-json-patch gives,
 * while the document keeps its comments.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fastJsonPatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { applyToDocument, pointerTokens } from "../../../src/cli/yaml-patch.js";
import type { AddOperation, KubeObject } from "../../../src/core/types.js";
import { planPodPatch } from "../../../src/inject/pod.js";
import { DEFAULT_INJECTION_SETTINGS } from "../../../src/inject/settings.js";

const { applyPatch, deepClone } = fastJsonPatch;
const FIXTURES = fileURLToPath(new URL("../../fixtures/pods/", import.meta.url));
const PODS = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const BUNDLE = { configMapName: "ca-trust-bundle", sha256: "a".repeat(64) };

describe("applyToDocument", () => {
  it.each(PODS)("applies the webhook's patch for %s as fast-json-patch does", (file) => {
    const text = readFileSync(`${FIXTURES}${file}`, "utf8");
    const document = parseDocument(text);
    const pod = document.toJS() as KubeObject;
    const { operations } = planPodPatch(pod, DEFAULT_INJECTION_SETTINGS, BUNDLE);

    applyToDocument(document, operations);

    expect(document.toJS()).toEqual(
      applyPatch(deepClone(pod), operations, true, false).newDocument,
    );
    if (text.startsWith("#")) expect(document.toString().startsWith("#")).toBe(true);
  });

  it.each([
    ["a map key", [{ op: "add", path: "/a/c", value: 3 }], { a: { b: 1, c: 3 }, l: [1, 2] }],
    [
      "an existing map key (replaced)",
      [{ op: "add", path: "/a/b", value: 9 }],
      { a: { b: 9 }, l: [1, 2] },
    ],
    ["an array index", [{ op: "add", path: "/l/0", value: 0 }], { a: { b: 1 }, l: [0, 1, 2] }],
    ["the end of an array", [{ op: "add", path: "/l/-", value: 3 }], { a: { b: 1 }, l: [1, 2, 3] }],
    [
      "an escaped key",
      [{ op: "add", path: "/a/x~1y~0z", value: 1 }],
      { a: { b: 1, "x/y~z": 1 }, l: [1, 2] },
    ],
  ] as const)("adds at %s", (_name, ops, expected) => {
    const document = parseDocument("a:\n  b: 1\nl: [1, 2]\n");

    applyToDocument(document, ops as unknown as AddOperation[]);

    expect(document.toJS()).toEqual(expected);
  });

  it.each([
    ["a missing parent", "/x/y"],
    ["an index past the end", "/l/5"],
    ["a non-numeric index", "/l/first"],
    ["a scalar parent", "/a/b/c"],
  ])("refuses %s", (_name, path) => {
    const document = parseDocument("a:\n  b: 1\nl: [1, 2]\n");

    expect(() => applyToDocument(document, [{ op: "add", path, value: 1 }])).toThrow(path);
  });

  it("decodes JSON pointers (RFC 6901)", () => {
    expect(pointerTokens("/a~1b/c~0d/0")).toEqual(["a/b", "c~d", "0"]);
    expect(pointerTokens("")).toEqual([]);
  });
});
