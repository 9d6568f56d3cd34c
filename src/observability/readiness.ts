/** One condition of readiness: ok, or the reason it is not. */
export type Check = () => { ok: boolean; reason?: string };

/**
 * The named checks behind GET /readyz: the serving certificate, each cache's sync, and
 * shutdown. Ready only when every check passes; the answer lists the failing ones by name so
 * `kubectl describe pod` shows why (like the apiserver's own /readyz?verbose).
 */
export class Readiness {
  private readonly checks = new Map<string, Check>();

  add(name: string, check: Check): this {
    this.checks.set(name, check);
    return this;
  }

  report(): { ready: boolean; checks: { name: string; ok: boolean; reason?: string }[] } {
    const checks = [...this.checks].map(([name, check]) => {
      try {
        return { name, ...check() };
      } catch (error) {
        return { name, ok: false, reason: `check failed: ${(error as Error).message}` };
      }
    });
    return { ready: checks.every((c) => c.ok), checks };
  }
}
