import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { SYSCALLS_MODEL } from "./models/syscalls.ts";

describe("memory syscalls against a reference model of the address space", () => {
  it(
    `random mmap/munmap/mprotect/brk/touch sequences agree with the model; checkers pass; exit frees everything (${budgetOf(SYSCALLS_MODEL)} commands)`,
    () => {
      expect(runBudget(SYSCALLS_MODEL)).toBeGreaterThanOrEqual(budgetOf(SYSCALLS_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
