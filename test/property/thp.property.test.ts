/**
 * Transparent huge pages against a model (models/thp.ts): touch, read, mmap,
 * munmap, mprotect, MADV_DONTNEED and mremap ranges that cut huge pages at
 * every kind of edge, fork, exit and khugepaged; every value reads back,
 * the thp, mm, page-table and TLB checkers pass after every command, and
 * every frame is free at the end.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { THP_MODEL } from "./models/thp.ts";

describe("transparent huge pages against a model", () => {
  it(
    `touch/read/mmap/munmap/mprotect/DONTNEED/mremap/fork/exit/khugepaged over three huge pages: no value lost, checkers pass, every frame freed (${budgetOf(THP_MODEL)} commands)`,
    () => {
      expect(runBudget(THP_MODEL)).toBeGreaterThanOrEqual(budgetOf(THP_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
