import { defineConfig } from "vitest/config";

// Two projects: `unit` (fast, in-memory cluster view, real HTTPS on loopback where the
// behaviour is socket-level) and `e2e` (a real kube-apiserver + etcd + kubectl, one control
// plane per run, started by the global setup).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/http/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/harness/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          pool: "forks",
        },
      },
    ],
  },
});
