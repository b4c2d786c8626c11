import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The project's top level is fixed, so this lives in test/; its root is the project.
// Two projects: every suite on memsim's own layers, and the process, fork and
// syscall suites again on xv6's frame allocator (test/support/boot.ts).
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    setupFiles: ["test/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
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
    ],
  },
});
