/**
 * Running the offline commands in-process: a CliIo that captures stdout and stderr, serves a
 * fixed stdin and a fixed clock, and connects to an in-memory cluster (`FakeCluster`) that
 * pages its LISTs and counts what was asked.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type CliIo, UsageError } from "../../../src/cli/io.js";
import {
  type ApiResource,
  type CustomResource,
  KubeReadError,
  type KubeReader,
  type Page,
  type PageRequest,
  type Selectors,
} from "../../../src/cli/kube.js";
import { matchesSelector, parseSelector } from "../../../src/core/selector.js";
import type { KubeObject } from "../../../src/core/types.js";

/** A command's outcome. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link testIo}. */
export interface TestIoOptions {
  stdin?: string;
  cluster?: FakeCluster;
  env?: NodeJS.ProcessEnv;
  now?: Date;
}

/** A CliIo over strings; `run` calls a command and collects its output. */
export function testIo(options: TestIoOptions = {}): { io: CliIo; out: () => Run } {
  let stdout = "";
  let stderr = "";
  const code = -1;
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    readStdin: async () => options.stdin ?? "",
    env: options.env ?? {},
    clock: () => options.now ?? new Date("2026-06-01T00:00:00Z"),
    connect: () => {
      if (options.cluster === undefined) throw new UsageError("no Kubernetes API configured");
      return { reader: options.cluster, namespace: undefined };
    },
  };
  return { io, out: () => ({ code, stdout, stderr }) };
}

/** Runs `command` with `argv` on a fresh test I/O. */
export async function run(
  command: (argv: readonly string[], io: CliIo) => Promise<number>,
  argv: readonly string[],
  options: TestIoOptions = {},
): Promise<Run> {
  const { io, out } = testIo(options);
  const code = await command(argv, io);
  return { ...out(), code };
}

/** Writes files (relative path → text) into a fresh temp dir; returns its path. */
export function tempFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "ctw-cli-test-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** A served custom resource of the fake cluster. */
export interface FakeResource extends ApiResource {
  group: string;
  version: string;
}

/**
 * An in-memory API: objects by kind, discovery of the custom resources given, 404 for
 * anything else, pages of at most `limit` items with numeric `continue` tokens, and failures
 * injected per operation (`fail`).
 */
export class FakeCluster implements KubeReader {
  readonly objects: KubeObject[] = [];
  readonly resources: FakeResource[] = [];
  /** Operation name (`listPods`, `listCustom:dataplanes`, ...) → HTTP status to fail with. */
  readonly fail = new Map<string, number>();
  /** Every call, as `operation args`. */
  readonly calls: string[] = [];

  add(...objects: KubeObject[]): this {
    this.objects.push(...objects);
    return this;
  }

  serve(...resources: FakeResource[]): this {
    this.resources.push(...resources);
    return this;
  }

  private check(operation: string): void {
    const status = this.fail.get(operation);
    if (status !== undefined) throw new KubeReadError(`HTTP ${status}`, status);
  }

  private page(items: KubeObject[], page: PageRequest): Page {
    const start = page.continue === undefined ? 0 : Number(page.continue);
    const end = start + page.limit;
    return {
      items: items.slice(start, end),
      continue: end < items.length ? String(end) : undefined,
    };
  }

  private find(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.find(
      (o) =>
        o.kind === kind &&
        o.metadata?.name === name &&
        (namespace === undefined || o.metadata?.namespace === namespace),
    );
  }

  async apiGroups(): Promise<ReadonlyMap<string, readonly string[]>> {
    this.calls.push("apiGroups");
    this.check("apiGroups");
    const groups = new Map<string, string[]>();
    for (const r of this.resources) {
      const versions = groups.get(r.group) ?? [];
      if (!versions.includes(r.version)) versions.push(r.version);
      groups.set(r.group, versions);
    }
    return groups;
  }

  async apiResources(group: string, version: string): Promise<readonly ApiResource[] | undefined> {
    this.calls.push(`apiResources ${group}/${version}`);
    const served = this.resources.filter((r) => r.group === group && r.version === version);
    return served.length === 0 ? undefined : served;
  }

  async listCustom(
    resource: CustomResource,
    page: PageRequest,
    selectors: Selectors = {},
  ): Promise<Page | undefined> {
    this.calls.push(`listCustom ${resource.plural}.${resource.group} ${page.continue ?? ""}`);
    this.check(`listCustom:${resource.plural}`);
    const served = this.resources.find(
      (r) =>
        r.group === resource.group && r.version === resource.version && r.name === resource.plural,
    );
    if (served === undefined) return undefined;
    const labels =
      selectors.labelSelector === undefined ? undefined : parseSelector(selectors.labelSelector);
    const field = /^([a-zA-Z.]+)=(.*)$/.exec(selectors.fieldSelector ?? "");
    const items = this.objects.filter(
      (o) =>
        o.apiVersion === `${resource.group}/${resource.version}` &&
        o.kind === served.kind &&
        (resource.namespace === undefined || o.metadata?.namespace === resource.namespace) &&
        (labels === undefined || matchesSelector(labels, o.metadata?.labels ?? {})) &&
        (field === null || fieldOf(o, field[1] as string) === field[2]),
    );
    return this.page(items, page);
  }

  async getClusterCustom(
    resource: { group: string; version: string; plural: string },
    name: string,
  ): Promise<KubeObject | undefined> {
    this.calls.push(`getClusterCustom ${resource.plural}.${resource.group} ${name}`);
    this.check(`getClusterCustom:${resource.plural}`);
    const served = this.resources.find(
      (r) =>
        r.group === resource.group && r.version === resource.version && r.name === resource.plural,
    );
    if (served === undefined) return undefined;
    return this.objects.find(
      (o) =>
        o.apiVersion === `${resource.group}/${resource.version}` &&
        o.kind === served.kind &&
        o.metadata?.name === name,
    );
  }

  async listSecrets(
    namespace: string | undefined,
    labelSelector: string,
    page: PageRequest,
  ): Promise<Page> {
    this.calls.push(`listSecrets ${labelSelector}`);
    this.check("listSecrets");
    const [key, value] = labelSelector.split("=");
    const items = this.objects.filter(
      (o) =>
        o.kind === "Secret" &&
        o.metadata?.labels?.[key as string] === value &&
        (namespace === undefined || o.metadata?.namespace === namespace),
    );
    return this.page(items, page);
  }

  async listPods(namespace: string | undefined, page: PageRequest): Promise<Page> {
    this.calls.push(`listPods ${page.continue ?? ""}`);
    this.check("listPods");
    const items = this.objects.filter(
      (o) => o.kind === "Pod" && (namespace === undefined || o.metadata?.namespace === namespace),
    );
    return this.page(items, page);
  }

  async listNamespaces(page: PageRequest): Promise<Page> {
    this.calls.push("listNamespaces");
    this.check("listNamespaces");
    return this.page(
      this.objects.filter((o) => o.kind === "Namespace"),
      page,
    );
  }

  async getSecret(namespace: string, name: string): Promise<KubeObject | undefined> {
    this.calls.push(`getSecret ${namespace}/${name}`);
    this.check("getSecret");
    return this.find("Secret", namespace, name);
  }

  async getConfigMap(namespace: string, name: string): Promise<KubeObject | undefined> {
    this.calls.push(`getConfigMap ${namespace}/${name}`);
    this.check("getConfigMap");
    this.check(`getConfigMap:${namespace}/${name}`);
    return this.find("ConfigMap", namespace, name);
  }

  async getNamespace(name: string): Promise<KubeObject | undefined> {
    this.calls.push(`getNamespace ${name}`);
    this.check("getNamespace");
    return this.find("Namespace", undefined, name);
  }

  async getOwner(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<KubeObject | undefined> {
    this.calls.push(`getOwner ${kind} ${namespace}/${name}`);
    this.check(`getOwner:${kind}`);
    const found = this.find(kind, namespace, name);
    return found?.apiVersion === apiVersion ? found : undefined;
  }
}

/** A field of an object by its dotted path (`metadata.name`, `spec.signerName`), for selectors. */
function fieldOf(object: KubeObject, path: string): unknown {
  let value: unknown = object;
  for (const part of path.split(".")) {
    value =
      value !== null && typeof value === "object"
        ? (value as Record<string, unknown>)[part]
        : undefined;
  }
  return value;
}
