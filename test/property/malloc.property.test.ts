import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { MALLOC_MODEL } from "./models/malloc.ts";

describe("malloc against a model of live blocks", () => {
  it(
    `in real processes (MMU, faults, brk/mmap VMAs): every byte, alignment, no overlap, the heap checker after every step (${budgetOf(MALLOC_MODEL)} commands)`,
    () => {
      expect(runBudget(MALLOC_MODEL)).toBeGreaterThanOrEqual(budgetOf(MALLOC_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
