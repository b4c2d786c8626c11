import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { SLAB_MODEL } from "./models/slab.ts";

describe("slab allocator against a reference model", () => {
  it(
    `random kmalloc/kfree/krealloc/kmem_cache ops keep every object's bytes, never overlap, and give every page back (${budgetOf(SLAB_MODEL)} commands)`,
    () => {
      expect(runBudget(SLAB_MODEL)).toBeGreaterThanOrEqual(budgetOf(SLAB_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
