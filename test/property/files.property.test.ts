/** Files against a byte-array model (models/files.ts), run for its budget of commands. */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { FILES_MODEL } from "./models/files.ts";

describe("files against a byte-array model", () => {
  it(
    `any interleaving of write, pwrite, ftruncate, fork, exit, fsync, drop_caches and remount leaves the file equal to the model (${budgetOf(FILES_MODEL)} commands)`,
    () => {
      expect(runBudget(FILES_MODEL)).toBeGreaterThanOrEqual(budgetOf(FILES_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
