import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { parse, parseAllDocuments } from "yaml";
import { renderManifests } from "/work/wt/h14a/dist/src/manifests.js";
import { parseRules } from "/work/wt/h14a/dist/src/policy/rules.js";

const [file, cfg, allowed, fp] = process.argv.slice(2);
const objs = parseAllDocuments(readFileSync(file, "utf8"))
  .map((d) => d.toJS())
  .filter(Boolean);
const rules = cfg ? parseRules(parse(readFileSync(cfg, "utf8")).rules) : [];
const exp = [
  ...renderManifests(
    { rules, allowedSecretNamespaces: allowed ? allowed.split(",") : [] },
    { namespace: "ca-trust-system", failurePolicy: fp || "Fail" },
  ),
  ...renderManifests({ rules: [], allowedSecretNamespaces: [] }, { only: "self-managed" }),
];
for (const e of exp) {
  const got = objs.find((o) => o.kind === e.kind && o.metadata.name === e.metadata.name);
  if (!got) {
    console.log("MISSING", e.kind, e.metadata.name);
    continue;
  }
  const a = e.webhooks ?? e.spec,
    b = got.webhooks ?? got.spec;
  console.log(e.kind, e.metadata.name, isDeepStrictEqual(a, b) ? "EQUAL" : "DIFF");
  if (!isDeepStrictEqual(a, b)) {
    console.log(JSON.stringify(a).slice(0, 3000));
    console.log(JSON.stringify(b).slice(0, 3000));
  }
}
