import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { COW_MPROTECT_MODEL } from "./models/cow_mprotect.ts";

describe("COW isolation across fork and mprotect", () => {
  it(
    `no process ever reads another's private write, whatever the protections were at fork (${budgetOf(COW_MPROTECT_MODEL)} commands)`,
    () => {
      expect(runBudget(COW_MPROTECT_MODEL)).toBeGreaterThanOrEqual(budgetOf(COW_MPROTECT_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
