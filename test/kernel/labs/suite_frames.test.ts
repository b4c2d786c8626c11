import { describe, expect, it } from "vitest";
import { bootMachine, TEST_FRAMES } from "../../support/boot.ts";

describe("the suites' machines run on the frames layer MEMSIM_TEST_FRAMES names", () => {
  it("bootMachine boots with that layer (or the buddy allocator)", () => {
    const m = bootMachine({ ramBytes: 8 << 20 });
    expect(m.kernel.framesName).toBe(TEST_FRAMES);
    expect(m.kernel.hasBuddy()).toBe(TEST_FRAMES === "buddy");
  });
});
