/**
 * Memory cgroups against a model (models/memcg.ts): processes move between
 * limited and unlimited groups, write, read, fork and exit over a small swap
 * area; the MEMCG checker's recount and every other checker pass after every
 * command, no group is over its max, every byte reads back, and OOM kills
 * happen only inside limited groups.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { MEMCG_MODEL } from "./models/memcg.ts";

describe("memory cgroups against a model", () => {
  it(
    `move/write/read/fork/exit across groups of 6, 12 and unlimited frames with swap: checkers pass, limits hold, bytes read back (${budgetOf(MEMCG_MODEL)} commands)`,
    () => {
      expect(runBudget(MEMCG_MODEL)).toBeGreaterThanOrEqual(budgetOf(MEMCG_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
