/**
 * The cache model (kernel/mm/cache_model.ts) against a reference MESI
 * implementation: counters and line states after every access, and the
 * cache checker (models/cache.ts).
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { CACHE_MODEL } from "./models/cache.ts";

describe("cache model", () => {
  it(
    `random loads and stores of 1..8 bytes on 2..4 CPUs with small caches: counters and MESI states match a reference after every access (${budgetOf(CACHE_MODEL)} commands)`,
    () => {
      expect(runBudget(CACHE_MODEL)).toBeGreaterThanOrEqual(budgetOf(CACHE_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
