import { describe, expect, it } from "vitest";
import { secretLeaks } from "../../../scripts/harness/webhook.js";

describe("secretLeaks (the e2e log scan)", () => {
  it.each([
    ["a PEM armour line", '{"msg":"x","v":"-----BEGIN CERTIFICATE-----"}', true],
    ["a private key armour line", "-----BEGIN EC PRIVATE KEY-----", true],
    [
      "a base64 Secret value",
      '{"data":"MIIBszCCAVmgAwIBAgIQYx2Yz8kq5pO3tL0nQ8v2GzAKBggqhkjOPQQDAjAY"}',
      true,
    ],
    [
      "a review line with a sha256 hash",
      '{"msg":"review","summary":"8 operations, ca-trust-bundle sha256:018839b56392f328adfdba767d45f13486daae2ab734203ca16401db59cb1989"}',
      false,
    ],
    ["a path", '{"certFile":"/tmp/ca-trust-e2e-webhook-abc123/tls.crt"}', false],
    [
      "a plain review line",
      '{"level":"info","msg":"review","uid":"705ab4f5-6393-11e8-b7cc-42010a800002","decision":"allowed"}',
      false,
    ],
  ])("%s: %s", (_name, line, leaks) => {
    expect(secretLeaks(line).length > 0).toBe(leaks);
  });
});
