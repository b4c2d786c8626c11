import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The project's top level is fixed, so this lives in test/; its root is the project.
// Three projects: every suite on memsim's own layers; the process, fork and
// syscall suites again on xv6's frame allocator; the malloc suites again on a
// student's malloc, CS:APP's implicit free list (test/support/boot.ts).
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    setupFiles: ["test/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // One test file per core. Vitest's default keeps one core for itself
    // (cores - 1), which on CI's two cores ran every file one after another;
    // the main process only collects results, so it needs no core of its own.
    maxWorkers: Math.max(2, availableParallelism()),
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".vitest-report.json" }]] : ["default"],
    projects: [
      { extends: true, test: { name: "default", include: ["test/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "frames-xv6",
          include: [
            "test/integration/**/*.test.ts",
            "test/conformance/brk.test.ts",
            "test/conformance/mmap.test.ts",
            "test/conformance/faults_overcommit.test.ts",
            "test/property/fork.property.test.ts",
            "test/property/syscalls.property.test.ts",
            "test/kernel/labs/suite_frames.test.ts",
          ],
          // A setup file, not test.env: env of an inline project is not passed to its workers in every vitest release.
          setupFiles: ["test/setup.ts", "test/setup_frames_xv6.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "malloc-implicit",
          include: [
            "test/userspace/malloc/contract.test.ts",
            "test/integration/libc_process.test.ts",
            "test/integration/malloc.integration.test.ts",
          ],
          setupFiles: ["test/setup.ts", "test/setup_malloc_implicit.ts"],
        },
      },
    ],
  },
});
