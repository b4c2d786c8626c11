import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { TEACH_MODEL } from "./models/teach.ts";

describe("teaching address spaces against a plain model of their tables", () => {
  it(
    `random geometries of the family: map / write / walk agree with the model, entry bytes in RAM included, the checker passes after every command and teardown leaks no frame (${budgetOf(TEACH_MODEL)} commands)`,
    () => {
      expect(runBudget(TEACH_MODEL)).toBeGreaterThanOrEqual(budgetOf(TEACH_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
