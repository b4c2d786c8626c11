/**
 * Swap against a byte-exact model (models/swap.ts): several processes over
 * one window of private anonymous pages, written, read, forked, unmapped,
 * moved, dropped and paged out to a small swap area; every byte reads back,
 * every checker passes after every command, and every slot and frame is free
 * at the end.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { SWAP_MODEL } from "./models/swap.ts";

describe("swap against a byte-exact model", () => {
  it(
    `write/read/fork/exit/mmap/munmap/mremap/DONTNEED/PAGEOUT with a small swap area: every byte reads back, checkers pass, every slot is freed (${budgetOf(SWAP_MODEL)} commands)`,
    () => {
      expect(runBudget(SWAP_MODEL)).toBeGreaterThanOrEqual(budgetOf(SWAP_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
