import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { SYSCALL_ARGS_MODEL } from "./models/syscall_args.ts";

describe("memory syscalls with wild arguments", () => {
  it(
    `every call returns what Linux could (exact errno for plain argument errors), never throws; checkers pass after each (${budgetOf(SYSCALL_ARGS_MODEL)} commands)`,
    () => {
      expect(runBudget(SYSCALL_ARGS_MODEL)).toBeGreaterThanOrEqual(budgetOf(SYSCALL_ARGS_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
