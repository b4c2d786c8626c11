/**
 * Exact LRU in the every-access mode against the textbook's LRU list
 * (models/exact_lru.ts): every hit and miss, the resident set after each
 * access, every value read back, checkers after each command.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { EXACT_LRU_MODEL } from "./models/exact_lru.ts";

describe("exact LRU in the every-access mode against a model", () => {
  it(
    `reads and writes of 10 pages in 2-5 frames with swap: each access hits exactly when the model's LRU list does (${budgetOf(EXACT_LRU_MODEL)} commands)`,
    () => {
      expect(runBudget(EXACT_LRU_MODEL)).toBeGreaterThanOrEqual(budgetOf(EXACT_LRU_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
