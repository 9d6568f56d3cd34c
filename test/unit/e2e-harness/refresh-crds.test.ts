import { describe, expect, it } from "vitest";
import { structuralCrd, withoutDescriptions } from "../../../scripts/refresh-crds.js";

describe("withoutDescriptions (the e2e CRDs keep upstream's schema, not its prose)", () => {
  it.each([
    [
      "a description of a node is removed",
      { type: "string", description: "Name of the secret" },
      { type: "string" },
    ],
    [
      "a property named description stays, its own description goes",
      {
        type: "object",
        properties: { description: { type: "string", description: "shown in the UI" } },
      },
      { type: "object", properties: { description: { type: "string" } } },
    ],
    [
      "items, additionalProperties and the combinators are walked",
      {
        type: "array",
        items: {
          type: "object",
          description: "x",
          additionalProperties: { type: "string", description: "y" },
          anyOf: [{ required: ["a"], description: "z" }],
          not: { description: "w", required: ["b"] },
        },
      },
      {
        type: "array",
        items: {
          type: "object",
          additionalProperties: { type: "string" },
          anyOf: [{ required: ["a"] }],
          not: { required: ["b"] },
        },
      },
    ],
    [
      "required, defaults, enums, validations and preserve-unknown-fields are kept as they are",
      {
        type: "object",
        required: ["name"],
        "x-kubernetes-validations": [{ rule: "self.a > 0", message: "must be positive" }],
        properties: {
          name: { type: "string", default: "", enum: ["", "a"] },
          params: { "x-kubernetes-preserve-unknown-fields": true },
        },
      },
      {
        type: "object",
        required: ["name"],
        "x-kubernetes-validations": [{ rule: "self.a > 0", message: "must be positive" }],
        properties: {
          name: { type: "string", default: "", enum: ["", "a"] },
          params: { "x-kubernetes-preserve-unknown-fields": true },
        },
      },
    ],
  ])("%s", (_name, schema, expected) => {
    expect(withoutDescriptions(schema)).toEqual(expected);
  });
});

describe("structuralCrd", () => {
  const upstream = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: "buildplanes.openchoreo.dev",
      annotations: { "controller-gen.kubebuilder.io/version": "v0.19.0" },
    },
    spec: {
      group: "openchoreo.dev",
      names: { kind: "BuildPlane", plural: "buildplanes" },
      scope: "Namespaced",
      versions: [
        {
          name: "v1alpha1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", description: "BuildPlane" } },
          additionalPrinterColumns: [{ name: "Age", type: "date", description: "age" }],
        },
      ],
    },
  };

  it("moves a CRD to another group by its name and spec.group, and drops annotations", () => {
    const crd = structuralCrd(upstream, "core.openchoreo.dev");

    expect(crd.metadata).toEqual({ name: "buildplanes.core.openchoreo.dev" });
    expect(crd.spec).toEqual({
      ...upstream.spec,
      group: "core.openchoreo.dev",
      versions: [
        {
          name: "v1alpha1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object" } },
          additionalPrinterColumns: [{ name: "Age", type: "date" }],
        },
      ],
    });
  });

  it("refuses what is not a CustomResourceDefinition", () => {
    expect(() => structuralCrd({ kind: "ConfigMap", spec: {} })).toThrow(
      "not a CustomResourceDefinition",
    );
  });
});
