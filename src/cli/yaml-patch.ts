/**
 * RFC 6902 `add` operations applied to a parsed YAML document instead of a plain object, so
 * that `inject` writes the manifest back with its comments, key order and scalar styles, and
 * a diff shows only what the webhook adds. The JSON result is computed separately with
 * fast-json-patch; a unit test holds the two equal.
 */
import { type Document, isMap, isSeq, type Node } from "yaml";
import type { AddOperation } from "../core/types.js";

/** Decodes a JSON pointer into tokens (RFC 6901). */
export function pointerTokens(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`not a JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** Applies add operations to `document` in place; throws when a parent does not exist. */
export function applyToDocument(document: Document, operations: readonly AddOperation[]): void {
  for (const op of operations) {
    const tokens = pointerTokens(op.path);
    const last = tokens.pop();
    if (last === undefined) throw new Error("cannot replace the whole document");
    let node: unknown = document.contents;
    for (const token of tokens) node = child(node, token, op.path);
    const value = document.createNode(op.value);
    if (isMap(node)) {
      node.set(last, value);
    } else if (isSeq(node)) {
      if (last === "-") node.items.push(value);
      else node.items.splice(index(last, node.items.length, op.path), 0, value);
    } else {
      throw new Error(`${op.path}: the parent is not a mapping or a sequence`);
    }
  }
}

function child(node: unknown, token: string, path: string): Node {
  let next: unknown;
  if (isMap(node)) next = node.get(token, true);
  else if (isSeq(node)) next = node.items[index(token, node.items.length - 1, path)];
  if (next === undefined || next === null) throw new Error(`${path}: no such parent`);
  return next as Node;
}

function index(token: string, max: number, path: string): number {
  const n = /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new Error(`${path}: index out of range`);
  return n;
}
