/**
 * The reference index of the Secret guard: Secret (namespace/name) → the objects whose CA
 * references point at it, with the field path and the key each reads. Only names and keys are
 * kept (an object is reduced to its references before it reaches here), and equal strings
 * (namespaces, keys) are shared, so 10,000 referencing objects cost a few MiB
 * (docs/performance.md "The reference index"). Filled by the watches of kube/references.ts;
 * read by the guard's decision (policy/guard.ts) without any API call.
 */
import type { ReferenceIndexView, Referrer, SecretReference } from "../policy/references.js";

/** Distinct strings shared; beyond this many, strings are kept as they come. */
const MAX_INTERNED = 50_000;

export class ReferenceIndex implements ReferenceIndexView {
  /** `namespace/name` of a Secret → object key → that object's references to it. */
  private readonly bySecret = new Map<string, Map<string, Referrer[]>>();
  /** Object key → every reference of that object (to drop them when it changes or goes). */
  private readonly byObject = new Map<string, readonly Referrer[]>();
  private readonly strings = new Map<string, string>();
  private references = 0;

  /**
   * Replaces what object `objectKey` (of `kind` in `group`, `namespace/name`) references. An
   * object without references is dropped from the index.
   */
  set(
    objectKey: string,
    object: { group: string; kind: string; namespace: string; name: string },
    references: readonly SecretReference[],
  ): void {
    this.delete(objectKey);
    if (references.length === 0) return;
    const namespace = this.intern(object.namespace);
    const referrers = references.map(
      (reference): Referrer => ({
        group: object.group,
        kind: object.kind,
        namespace,
        name: object.name,
        reference: {
          ...reference,
          namespace: this.intern(reference.namespace),
          // Many objects often reference one Secret (a shared CA): one copy of its name.
          name: this.intern(reference.name),
          key: reference.key === undefined ? undefined : this.intern(reference.key),
        },
      }),
    );
    this.byObject.set(objectKey, referrers);
    this.references += referrers.length;
    for (const referrer of referrers) {
      const secret = secretKey(referrer.reference.namespace, referrer.reference.name);
      let objects = this.bySecret.get(secret);
      if (objects === undefined) {
        objects = new Map();
        this.bySecret.set(secret, objects);
      }
      const list = objects.get(objectKey);
      if (list === undefined) objects.set(objectKey, [referrer]);
      else list.push(referrer);
    }
  }

  /** Forgets object `objectKey` (deleted, or no longer referencing anything). */
  delete(objectKey: string): void {
    const previous = this.byObject.get(objectKey);
    if (previous === undefined) return;
    this.byObject.delete(objectKey);
    this.references -= previous.length;
    for (const referrer of previous) {
      const secret = secretKey(referrer.reference.namespace, referrer.reference.name);
      const objects = this.bySecret.get(secret);
      if (objects === undefined) continue;
      objects.delete(objectKey);
      if (objects.size === 0) this.bySecret.delete(secret);
    }
  }

  /** Forgets every object whose key starts with `prefix` (a resource that is no longer served). */
  deletePrefix(prefix: string): void {
    for (const key of [...this.byObject.keys()]) if (key.startsWith(prefix)) this.delete(key);
  }

  referrers(namespace: string, name: string): readonly Referrer[] {
    const objects = this.bySecret.get(secretKey(namespace, name));
    if (objects === undefined) return [];
    const out: Referrer[] = [];
    for (const list of objects.values()) out.push(...list);
    // Stable for people and tests: by kind, namespace, name, then field path.
    return out.sort(
      (a, b) =>
        compare(a.kind, b.kind) ||
        compare(a.namespace, b.namespace) ||
        compare(a.name, b.name) ||
        compare(a.reference.path, b.reference.path),
    );
  }

  /** Referencing objects, referenced Secrets and references held (the index-size metric). */
  sizes(): { objects: number; secrets: number; references: number } {
    return {
      objects: this.byObject.size,
      secrets: this.bySecret.size,
      references: this.references,
    };
  }

  /** The one copy of an equal string (namespaces and keys repeat across objects). */
  intern(text: string): string {
    const known = this.strings.get(text);
    if (known !== undefined) return known;
    if (this.strings.size < MAX_INTERNED) this.strings.set(text, text);
    return text;
  }
}

function secretKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
