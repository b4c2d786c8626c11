/**
 * Threads on several CPUs against a model (models/smp.ts): random seeded
 * schedules with migration; every read returns the last write (no CPU uses
 * a stale translation), every CPU's TLB and the page tables check out after
 * every step.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { SMP_MODEL } from "./models/smp.ts";

describe("threads on several CPUs against a model", () => {
  it(
    `map/unmap/protect/write/read/DONTNEED/fork and kmalloc/kfree/alloc_pages/free_pages from up to 3 threads on 1..4 CPUs, random schedules: every read is the last write, every TLB checks out (${budgetOf(SMP_MODEL)} commands)`,
    () => {
      expect(runBudget(SMP_MODEL)).toBeGreaterThanOrEqual(budgetOf(SMP_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
