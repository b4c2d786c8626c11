/** File mappings against a byte-array model (models/file_mmap.ts), run for its budget of commands. */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { FILE_MMAP_MODEL } from "./models/file_mmap.ts";

describe("file mappings against a byte-array model", () => {
  it(
    `any interleaving of write, pwrite, stores through shared and private mappings, msync of page ranges, munmap and mmap again, mprotect splits, mremap moves, ftruncate, fork, exit, drop_caches, MADV_PAGEOUT, reclaim and remount leaves the file and every mapping equal to the model (${budgetOf(FILE_MMAP_MODEL)} commands)`,
    () => {
      expect(runBudget(FILE_MMAP_MODEL)).toBeGreaterThanOrEqual(budgetOf(FILE_MMAP_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
