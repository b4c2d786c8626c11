/**
 * The event stream agrees with the counters (models/events.ts): on the buddy
 * allocator at the full budget, and on the lab frame allocators (xv6's free
 * list, the bitmap) with a smaller one, since their emit points are FramePages'
 * own and the buddy's run covers the rest.
 */
import { describe, expect, it } from "vitest";
import { bitmapFrames, xv6Frames } from "../../sim/index.ts";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { EVENTS_MODEL, eventsModel } from "./models/events.ts";

const MODELS = [EVENTS_MODEL, eventsModel("events-xv6", 2_000, xv6Frames), eventsModel("events-bitmap", 2_000, bitmapFrames)];

describe.each(MODELS.map((m) => [m.name, m] as const))("event stream vs vmstat (%s)", (_name, model) => {
  it(
    `pages in mm_page_alloc and mm_page_free events equal the growth of pgalloc_* and pgfree (${budgetOf(model)} commands)`,
    () => {
      expect(runBudget(model)).toBeGreaterThanOrEqual(budgetOf(model));
    },
    BUDGET_TIMEOUT,
  );
});
