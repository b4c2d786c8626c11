/**
 * Reclaim against a word-exact model (models/reclaim.ts): three processes
 * whose windows together are several times RAM, so kswapd and direct
 * reclaim run all the time; every word reads back and every checker (the
 * LRU lists and the reverse map among them) passes after every command.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { RECLAIM_MODEL } from "./models/reclaim.ts";

describe("reclaim against a word-exact model", () => {
  it(
    `fill/read/fork/exit/MADV_COLD/MADV_FREE/mlock/munlock/reclaim on 4 MiB with windows 3.5 times RAM: every word reads back, checkers pass (${budgetOf(RECLAIM_MODEL)} commands)`,
    () => {
      expect(runBudget(RECLAIM_MODEL)).toBeGreaterThanOrEqual(budgetOf(RECLAIM_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
