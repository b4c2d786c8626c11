import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { MALLOC_FUZZ_MODEL } from "./models/malloc_fuzz.ts";

describe("a scribbled heap never breaks the emulator", () => {
  it(
    `after random writes over chunk and arena headers, malloc/free/realloc either work or kill the process (${budgetOf(MALLOC_FUZZ_MODEL)} commands)`,
    () => {
      expect(runBudget(MALLOC_FUZZ_MODEL)).toBeGreaterThanOrEqual(budgetOf(MALLOC_FUZZ_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
