import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { ADDRESS_SPACE_MODEL } from "./models/as_story.ts";

describe("several address spaces against a byte-exact model", () => {
  it(
    `spawn/fork/exit/mmap/munmap/mprotect/mremap/madvise/brk/loads/stores: every byte, fault and frame agrees; checkers pass (${budgetOf(ADDRESS_SPACE_MODEL)} commands)`,
    () => {
      expect(runBudget(ADDRESS_SPACE_MODEL)).toBeGreaterThanOrEqual(budgetOf(ADDRESS_SPACE_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
