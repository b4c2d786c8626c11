import { describe, expect, it } from "vitest";
import { MADV_FREE, PROT_WRITE } from "../../sim/index.ts";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { Access, Fork, Madvise, Mmap, Reclaim } from "./models/as_commands.ts";
import { ADDRESS_SPACE_MODEL, runStory } from "./models/as_story.ts";

describe("several address spaces against a byte-exact model", () => {
  it(
    `spawn/fork/exit/mmap/munmap/mprotect/mremap/madvise/brk/loads/stores: every byte, fault and frame agrees; checkers pass (${budgetOf(ADDRESS_SPACE_MODEL)} commands)`,
    () => {
      expect(runBudget(ADDRESS_SPACE_MODEL)).toBeGreaterThanOrEqual(budgetOf(ADDRESS_SPACE_MODEL));
    },
    BUDGET_TIMEOUT,
  );

  // The soak's story (seed 21567842): the model kept a MADV_FREE page that a fork had shared, the machine dropped it from both.
  it("a page marked by MADV_FREE and then shared by fork is dropped from parent and child at reclaim", () => {
    const story = [
      new Mmap(0, 0, 1, PROT_WRITE, false, "fixed", false),
      new Access(0, 0, 4088, 1, "bytes", true, 1),
      new Madvise(0, 0, 1, MADV_FREE),
      new Fork(0),
      new Reclaim(),
    ];
    expect(runStory(story).stats.commands).toBe(5);
  });

  // MADV_FREE on a page fork shares marks it while it is not dirty as a whole; reclaim drops it only when no entry is dirty.
  const write = () => new Access(0, 0, 4088, 1, "bytes", true, 1);
  const map = () => new Mmap(0, 0, 1, PROT_WRITE, false, "fixed", false);
  const free = (who: number) => new Madvise(who, 0, 1, MADV_FREE);
  it.each([
    ["freed in both after fork: dropped from both", [map(), write(), new Fork(0), free(0), free(1), new Reclaim()]],
    ["freed in the parent only: the child's dirty entry keeps it in both", [map(), write(), new Fork(0), free(0), new Reclaim()]],
    [
      "kept once by a dirty entry, it is dirty as a whole: MADV_FREE skips it while shared",
      [map(), write(), new Fork(0), free(0), new Reclaim(), free(0), free(1), new Reclaim()],
    ],
  ])("a written private page shared by fork, %s", (_name, story) => {
    expect(runStory(story).stats.commands).toBe(story.length);
  });
});
