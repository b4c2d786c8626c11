import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { PGTABLE_MODEL } from "./models/pgtable.ts";

describe("page tables against a reference map", () => {
  it(
    `random map/unmap/protect/touch keep translations, data and every invariant, and leak no frame (${budgetOf(PGTABLE_MODEL)} commands)`,
    () => {
      expect(runBudget(PGTABLE_MODEL)).toBeGreaterThanOrEqual(budgetOf(PGTABLE_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
