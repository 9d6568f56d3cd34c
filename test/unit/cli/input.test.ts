import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError, manifestsOf, parseSource, readSources } from "../../../src/cli/input.js";
import { tempFiles } from "./helpers.js";

const noStdin = async () => "";

const POD = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n`;

describe("readSources and manifestsOf", () => {
  it("reads multi-document YAML in order, skipping empty documents, with the line of each object", () => {
    const source = parseSource(
      "multi.yaml",
      `# leading comment\n${POD("a")}---\n---\n# between\n${POD("b")}...\n`,
    );

    const manifests = manifestsOf([source]);

    expect(manifests.map((m) => [m.object.metadata?.name, m.line, m.document])).toEqual([
      ["a", 2, 0],
      ["b", 9, 2],
    ]);
  });

  it.each([
    ["a v1 List", "List"],
    ["a typed list from kubectl get -o yaml", "PodList"],
  ])("unpacks %s into its items, each with its own line and path", (_name, kind) => {
    const text = [
      "apiVersion: v1",
      `kind: ${kind}`,
      "items:",
      "  - apiVersion: v1",
      "    kind: Pod",
      "    metadata: {name: first}",
      "  - apiVersion: v1",
      "    kind: Pod",
      "    metadata: {name: second}",
      "",
    ].join("\n");

    const manifests = manifestsOf([parseSource("list.yaml", text)]);

    expect(manifests.map((m) => [m.object.metadata?.name, m.line, m.path])).toEqual([
      ["first", 4, ["items", 0]],
      ["second", 7, ["items", 1]],
    ]);
  });

  it("reads JSON files as one document", () => {
    const manifests = manifestsOf([
      parseSource(
        "pod.json",
        JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "j" } }),
      ),
    ]);

    expect(manifests.map((m) => m.object.metadata?.name)).toEqual(["j"]);
  });

  it("walks directories recursively, in name order, reading only .yaml, .yml and .json", async () => {
    const dir = tempFiles({
      "b.yaml": POD("b"),
      "a/z.yml": POD("z"),
      "a/y.json": JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "y" } }),
      "a/notes.txt": "not a manifest",
      "c/deeper/d.YAML": POD("d"),
    });

    const manifests = manifestsOf(await readSources([dir], noStdin));

    expect(manifests.map((m) => m.object.metadata?.name)).toEqual(["y", "z", "b", "d"]);
  });

  it("reads a file given explicitly whatever its extension, and - from stdin", async () => {
    const dir = tempFiles({ "pod.txt": POD("explicit") });

    const manifests = manifestsOf(
      await readSources([join(dir, "pod.txt"), "-"], async () => POD("from-stdin")),
    );

    expect(manifests.map((m) => [m.object.metadata?.name, m.source.name])).toEqual([
      ["explicit", join(dir, "pod.txt")],
      ["from-stdin", "<stdin>"],
    ]);
  });

  it.each([
    [
      "a mapping nested in a compact mapping",
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n    bad: 1\n",
      /^bad\.yaml:4:9: invalid YAML: Nested mappings/,
    ],
    [
      "an unclosed flow sequence",
      "apiVersion: v1\nkind: Pod\nspec: [a, b\n",
      /^bad\.yaml:\d+:\d+: invalid YAML: /,
    ],
    ["a duplicate key", "apiVersion: v1\nkind: Pod\nkind: Pod\n", /^bad\.yaml:3:1: invalid YAML: /],
    [
      "a malformed document after a good one",
      `${POD("ok")}---\nkind: [\n`,
      /^bad\.yaml:7:1: invalid YAML: Flow sequence/,
    ],
  ])("reports %s as an InputError with the file, line and column", (_name, text, message) => {
    expect(() => parseSource("bad.yaml", text)).toThrow(InputError);
    expect(() => parseSource("bad.yaml", text)).toThrow(message);
  });

  it.each([
    ["a scalar document", "just text\n", "bad.yaml:1: not a Kubernetes object"],
    ["a sequence document", "- a\n- b\n", "bad.yaml:1: not a Kubernetes object"],
    ["a mapping without kind", "apiVersion: v1\nmetadata: {}\n", "kind not set"],
    [
      "a List item without apiVersion",
      "apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n",
      "bad.yaml:4:",
    ],
  ])("refuses %s, naming where it is", (_name, text, message) => {
    expect(() => manifestsOf([parseSource("bad.yaml", text)])).toThrow(message);
  });

  it("refuses a document whose aliases expand without bound", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++) {
      lines.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(", ")}]`,
      );
    }
    const text = `apiVersion: v1\nkind: ConfigMap\n${lines.join("\n")}\n`;

    expect(() => manifestsOf([parseSource("bomb.yaml", text)])).toThrow(InputError);
  });

  it.each([
    ["a missing file", ["/nonexistent/x.yaml"], 'the path "/nonexistent/x.yaml" does not exist'],
    ["stdin twice", ["-", "-"], "stdin can be read only once"],
  ])("refuses %s with an InputError", async (_name, paths, message) => {
    await expect(readSources(paths, noStdin)).rejects.toThrow(InputError);
    await expect(readSources(paths, noStdin)).rejects.toThrow(message);
  });
});
