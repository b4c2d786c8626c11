import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { FRAMES_MACHINE_MODEL, FRAMES_MODEL } from "./models/frames.ts";

describe("xv6 and bitmap frame allocators against their reference models", () => {
  it(
    `every answer is the model's, the checker passes after each step (${budgetOf(FRAMES_MODEL)} commands)`,
    () => {
      expect(runBudget(FRAMES_MODEL)).toBeGreaterThanOrEqual(budgetOf(FRAMES_MODEL));
    },
    BUDGET_TIMEOUT,
  );

  it(
    `behind a machine: random alloc/free keeps the kernel's checkers (frames recount included) passing (${budgetOf(FRAMES_MACHINE_MODEL)} commands)`,
    () => {
      expect(runBudget(FRAMES_MACHINE_MODEL)).toBeGreaterThanOrEqual(budgetOf(FRAMES_MACHINE_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
