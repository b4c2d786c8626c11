import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { PAGE_ALLOC_MODEL } from "./models/page_alloc.ts";

describe("buddy allocator against a reference model", () => {
  it(
    `random alloc/free of mixed orders keeps every invariant and never overlaps (${budgetOf(PAGE_ALLOC_MODEL)} commands)`,
    () => {
      expect(runBudget(PAGE_ALLOC_MODEL)).toBeGreaterThanOrEqual(budgetOf(PAGE_ALLOC_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
