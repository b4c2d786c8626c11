import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runStory, storyArbitrary } from "./models/as_story.ts";

/** Commands per run (AS_COMMANDS to change it); stories of up to STORY_MAX commands are run until it is reached. */
const COMMANDS = Number(process.env.AS_COMMANDS ?? 10_000);
const STORY_MAX = 300;

describe("several address spaces against a byte-exact model", () => {
  it("spawn/fork/exit/mmap/munmap/mprotect/mremap/madvise/brk/loads/stores: every byte, fault and frame agrees; checkers pass", () => {
    // Batches of stories, each batch with its own seed (printed by fast-check on failure, with the shrunk story).
    const base = fc.readConfigureGlobal().seed ?? Math.floor(Math.random() * 2 ** 31);
    let commands = 0;
    for (let batch = 0; commands < COMMANDS; batch++) {
      fc.assert(
        fc.property(storyArbitrary(STORY_MAX), (cmds) => {
          commands += runStory(cmds).stats.commands;
        }),
        { numRuns: 10, seed: (base + batch * 7919) % 2 ** 31 },
      );
    }
    expect(commands).toBeGreaterThanOrEqual(COMMANDS);
  });
});
