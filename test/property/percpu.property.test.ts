/**
 * The per-CPU page lists and CPU slabs against a model (models/percpu.ts):
 * random seeded schedules with migration, blocks and objects freed on other
 * CPUs than the ones that allocated them; the buddy and slab checkers and
 * the cache's counters after every step.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { PERCPU_MODEL } from "./models/percpu.ts";

describe("per-CPU page lists and CPU slabs against a model", () => {
  it(
    `alloc/free of page blocks and cache objects from 2..4 threads on 2..4 CPUs, remote frees, drains and shrinks: every stamp kept, every CPU's lists and slabs check out, counters exact (${budgetOf(PERCPU_MODEL)} commands)`,
    () => {
      expect(runBudget(PERCPU_MODEL)).toBeGreaterThanOrEqual(budgetOf(PERCPU_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
