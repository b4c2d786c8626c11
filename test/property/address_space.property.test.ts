import { describe, expect, it } from "vitest";
import { runStory, storyArbitrary } from "./models/as_story.ts";
import { runCommands } from "./models/budget.ts";

/** Commands per run (AS_COMMANDS to change it), in stories of up to 300 commands. */
const COMMANDS = Number(process.env.AS_COMMANDS ?? 10_000);

describe("several address spaces against a byte-exact model", () => {
  it("spawn/fork/exit/mmap/munmap/mprotect/mremap/madvise/brk/loads/stores: every byte, fault and frame agrees; checkers pass", () => {
    const n = runCommands(storyArbitrary(300), (cmds) => runStory(cmds).stats.commands, COMMANDS);
    expect(n).toBeGreaterThanOrEqual(COMMANDS);
  });
});
