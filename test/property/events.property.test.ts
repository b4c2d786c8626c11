import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { EVENTS_MODEL } from "./models/events.ts";

describe("event stream vs vmstat", () => {
  it(
    `pages in mm_page_alloc and mm_page_free events equal the growth of pgalloc_* and pgfree (${budgetOf(EVENTS_MODEL)} commands)`,
    () => {
      expect(runBudget(EVENTS_MODEL)).toBeGreaterThanOrEqual(budgetOf(EVENTS_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
