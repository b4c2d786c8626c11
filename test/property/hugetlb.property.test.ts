/**
 * hugetlb against a model (models/hugetlb.ts): MAP_HUGETLB mmap, munmap,
 * writes and reads, fork, exit and pool resizes; the pool counts, every
 * ENOMEM, SIGBUS and COW copy match the model, and the checkers pass after
 * every command.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { HUGETLB_MODEL } from "./models/hugetlb.ts";

describe("hugetlb against a model", () => {
  it(
    `mmap/munmap/write/read/fork/exit/resize over four huge pages: pool counts, ENOMEM, SIGBUS and values as the model says, checkers pass (${budgetOf(HUGETLB_MODEL)} commands)`,
    () => {
      expect(runBudget(HUGETLB_MODEL)).toBeGreaterThanOrEqual(budgetOf(HUGETLB_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
