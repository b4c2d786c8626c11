import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { VMALLOC_MODEL } from "./models/vmalloc.ts";

describe("vmalloc against a first-fit reference", () => {
  it(
    `random vmalloc/vzalloc/vmap/vfree/vunmap place areas first-fit, keep data and invariants, and leak nothing (${budgetOf(VMALLOC_MODEL)} commands)`,
    () => {
      expect(runBudget(VMALLOC_MODEL)).toBeGreaterThanOrEqual(budgetOf(VMALLOC_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
