/**
 * The evaluator against upstream's own fixture corpus: every Pod that k8s.io/pod-security-admission's
 * generators (package `test`, the files upstream writes to its `testdata/`) produce per level,
 * version and check, written by the Go program in tools/podsecurity-fixtures through
 * scripts/build-podsecurity-fixtures.sh (cached outside the repo; a cold cache builds it, which
 * takes minutes: hence this file's hook timeout). Two corpora: the module at the control
 * plane's version (go.mod) and at the newest release (latest.mod, for `latest`).
 *
 * For every fixture: a pass Pod must be allowed; a fail Pod must be refused, by exactly the
 * checks and with exactly the reasons and details upstream's checks give it (so also by the
 * check it was generated for, or the restricted check overriding it), and the message must
 * contain the substring upstream's own end-to-end run expects.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  checksFor,
  effectiveMinor,
  evaluate,
  forbiddenMessage,
  type PodSecurityLevel,
  type PodSecurityVersion,
} from "../../../src/podsecurity/index.js";

interface Fixture {
  readonly level: PodSecurityLevel;
  readonly version: PodSecurityVersion;
  /** Empty for the minimal valid Pods. */
  readonly check: string;
  readonly expect: "pass" | "fail";
  readonly name: string;
  readonly expectErrorSubstring?: string;
  readonly pod: { metadata?: unknown; spec?: unknown };
  /** What upstream's checks forbid in the Pod as written. */
  readonly upstream: readonly Forbidden[];
}

interface Forbidden {
  readonly check: string;
  readonly reason: string;
  readonly detail: string;
}

/** What upstream's checks forbid from version `since` on, up to the next span. */
interface Span {
  readonly since: string;
  readonly forbidden: readonly Forbidden[];
}

/** A distinct Pod of the corpus, evaluated by upstream at every level and version. */
interface Crossed {
  readonly from: string;
  readonly pod: { metadata?: unknown; spec?: unknown };
  readonly baseline: readonly Span[];
  readonly restricted: readonly Span[];
}

interface Corpus {
  readonly module: string;
  readonly newestVersion: string;
  readonly fixtures: readonly Fixture[];
  readonly crossed: readonly Crossed[];
}

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const SCRIPT = `${REPO}scripts/build-podsecurity-fixtures.sh`;
const TOOLS = `${REPO}tools/podsecurity-fixtures/`;

/** The Kubernetes minor a module file of the tools module pins (v0.33.13 -> 33). */
function pinnedMinor(modfile: string): number {
  const text = readFileSync(`${TOOLS}${modfile}`, "utf8");
  const match = /^\s*k8s\.io\/pod-security-admission v0\.(\d+)\./m.exec(text);
  if (match === null) throw new Error(`${modfile} pins no k8s.io/pod-security-admission`);
  return Number(match[1]);
}

/** In the order the script prints them. */
const CORPORA = [
  { name: "the control plane's version (go.mod)", newestMinor: pinnedMinor("go.mod") },
  { name: "the newest release (latest.mod)", newestMinor: pinnedMinor("latest.mod") },
] as const;

/** Runs the script (a cold build streams its progress to stderr); the corpus files' paths. */
function buildCorpora(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT], { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      const paths = Buffer.concat(chunks).toString("utf8").trim().split("\n");
      if (code !== 0 || paths.length !== CORPORA.length) {
        reject(new Error(`${SCRIPT} exited ${code}; it builds the fixture corpus (needs Go)`));
      } else {
        resolve(paths);
      }
    });
  });
}

/** What must be true of one fixture; each string says what is not. */
function disagreements(fixture: Fixture): string[] {
  const result = evaluate(fixture.pod, fixture);
  const ours = result.violations.map((v) => ({
    check: v.check,
    reason: v.reason,
    detail: v.detail,
  }));
  const id = `${fixture.level}:${fixture.version} ${fixture.expect}/${fixture.name}`;
  if (fixture.expect === "pass") {
    return result.allowed ? [] : [`${id}: refused: ${forbiddenMessage(result)}`];
  }
  const problems: string[] = [];
  if (result.allowed) problems.push(`${id}: allowed`);
  if (fixture.upstream.length === 0) problems.push(`${id}: upstream's checks allow it`);
  if (JSON.stringify(ours) !== JSON.stringify(fixture.upstream)) {
    problems.push(
      `${id}: ours ${JSON.stringify(ours)} != upstream ${JSON.stringify(fixture.upstream)}`,
    );
  }
  const expected = checkIdsFor(fixture);
  if (!ours.some((v) => expected.includes(v.check))) {
    problems.push(`${id}: none of ${expected.join(", ")} failed`);
  }
  const substring = fixture.expectErrorSubstring || fixture.check;
  if (!forbiddenMessage(result).includes(substring)) {
    problems.push(`${id}: message lacks ${JSON.stringify(substring)}`);
  }
  return problems;
}

/** The fixture's check, or at restricted the check that overrides it at that version. */
function checkIdsFor(fixture: Fixture): string[] {
  const checks = checksFor(fixture.level, effectiveMinor(fixture.version));
  if (checks.some((c) => c.id === fixture.check)) return [fixture.check];
  return checks.filter((c) => c.overrides?.some((o) => o === fixture.check)).map((c) => c.id);
}

const LEVELS: readonly PodSecurityLevel[] = ["restricted", "baseline"];

let corpora: Corpus[];

beforeAll(async () => {
  const paths = await buildCorpora();
  corpora = paths.map((path) => JSON.parse(readFileSync(path, "utf8")) as Corpus);
}, 20 * 60_000);

describe.each(CORPORA.map((c, index) => ({ ...c, index })))(
  "upstream's fixture corpus at $name",
  ({ index, newestMinor }) => {
    const corpus = () => corpora[index] as Corpus;

    it("covers every version up to its own", () => {
      expect(corpus().newestVersion).toBe(`v1.${newestMinor}`);
      const versions = new Set(corpus().fixtures.map((f) => f.version));
      expect(versions.size).toBe(newestMinor + 1);
    });

    describe.each(LEVELS)("%s", (level) => {
      const minors = Array.from({ length: newestMinor + 1 }, (_, minor) => minor).reverse();

      it.each(minors)(`agrees with every pass and fail fixture of ${level}:v1.%i`, (minor) => {
        const fixtures = corpus().fixtures.filter(
          (f) => f.level === level && f.version === `v1.${minor}`,
        );

        expect(fixtures.filter((f) => f.expect === "pass").length).toBeGreaterThan(0);
        expect(fixtures.filter((f) => f.expect === "fail").length).toBeGreaterThan(0);
        expect(fixtures.flatMap(disagreements)).toEqual([]);
      });
    });

    it.each(LEVELS)(
      "agrees with upstream on every distinct Pod at %s of every version, not only its own",
      (level) => {
        // A check introduced too early, or a change applied at the wrong version, shows here:
        // the fixtures of one version only exercise the checks of that version.
        const problems: string[] = [];
        for (const crossed of corpus().crossed) {
          const spans = crossed[level];
          for (let minor = 0; minor <= newestMinor; minor++) {
            const span = spans.findLast((s) => Number(s.since.slice(3)) <= minor);
            const version = `v1.${minor}` as const;
            const ours = evaluate(crossed.pod, { level, version }).violations.map((v) => ({
              check: v.check,
              reason: v.reason,
              detail: v.detail,
            }));
            if (JSON.stringify(ours) !== JSON.stringify(span?.forbidden)) {
              problems.push(
                `${crossed.from} at ${level}:${version}: ours ${JSON.stringify(ours)} != upstream ${JSON.stringify(span?.forbidden)}`,
              );
            }
          }
        }

        expect(corpus().crossed.length).toBeGreaterThan(0);
        expect(problems).toEqual([]);
      },
    );

    it("differs from upstream's checks on the Pod as written only where the apiserver defaults", () => {
      // A pass fixture relies on the apiserver's defaulting: a volume without a source becomes
      // an emptyDir before admission; the evaluator reads manifests, so it applies that default.
      const flagged = corpus().fixtures.filter((f) => f.expect === "pass" && f.upstream.length > 0);

      expect(new Set(flagged.map((f) => `${f.level} ${f.name} ${f.upstream[0]?.detail}`))).toEqual(
        new Set([
          'restricted restrictedvolumes0 volume "volume0" uses restricted volume type "unknown"',
        ]),
      );
      expect(flagged.every((f) => evaluate(f.pod, f).allowed)).toBe(true);
    });
  },
);

describe("latest", () => {
  it.each(LEVELS)("evaluates %s:latest as the newest release's newest version", (level) => {
    const newest = corpora[CORPORA.length - 1] as Corpus;
    const fixtures = newest.fixtures
      .filter((f) => f.level === level && f.version === newest.newestVersion)
      .map((f) => ({ ...f, version: "latest" as const }));

    expect(fixtures.length).toBeGreaterThan(0);
    expect(fixtures.flatMap(disagreements)).toEqual([]);
  });
});
