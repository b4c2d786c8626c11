import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { SHELL_MODEL } from "./models/shell.ts";

describe("the command language under random lines", () => {
  it(
    `every line gives a result or an error naming what was wrong, never an internal error; checkers pass after each (${budgetOf(SHELL_MODEL)} lines)`,
    () => {
      expect(runBudget(SHELL_MODEL)).toBeGreaterThanOrEqual(budgetOf(SHELL_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
