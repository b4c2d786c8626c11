import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { FORK_MODEL, FORK_SV39_MODEL, FORK_X86_32_MODEL } from "./models/fork.ts";

describe("fork, COW, madvise and exit across several processes against a model of their contents", () => {
  it(
    `every process always reads what the model says; after all exit, every frame is back (${budgetOf(FORK_MODEL)} commands)`,
    () => {
      expect(runBudget(FORK_MODEL)).toBeGreaterThanOrEqual(budgetOf(FORK_MODEL));
    },
    BUDGET_TIMEOUT,
  );

  it(
    `the same on Sv39 page tables: every read matches the model, every frame comes back (${budgetOf(FORK_SV39_MODEL)} commands)`,
    () => {
      expect(runBudget(FORK_SV39_MODEL)).toBeGreaterThanOrEqual(budgetOf(FORK_SV39_MODEL));
    },
    BUDGET_TIMEOUT,
  );

  it(
    `the same on x86-32 page tables (4-byte entries, no NX): every read matches the model, every frame comes back (${budgetOf(FORK_X86_32_MODEL)} commands)`,
    () => {
      expect(runBudget(FORK_X86_32_MODEL)).toBeGreaterThanOrEqual(budgetOf(FORK_X86_32_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
