import { describe, expect, it } from "vitest";
import { createSegregated, sizeClass } from "../../../userspace/alloc/segregated.ts";
import { makeTestProcess } from "../../support/process.ts";

describe("size classes", () => {
  it("one class per 16 bytes below 512, then four per power of two", () => {
    expect([32, 48, 496, 512, 639, 640, 767, 768, 1023, 1024, 2 ** 20, 0xffff_fff0].map(sizeClass)).toEqual([
      2, 3, 31, 32, 32, 33, 33, 34, 35, 36, 76, 123,
    ]);
  });
});

/*
 * Root 1104 bytes (64 + 16 bitmap + 128 heads x 8); first payload at +1120.
 *   A malloc(100) block 112, payload +1120     D malloc(16) block 32, payload +1584
 *   B malloc(16)  block  32, payload +1232     E malloc(200) block 208, payload +1616
 *   C malloc(300) block 320, payload +1264     F malloc(16) block 32, payload +1824
 */
function holes() {
  const proc = makeTestProcess();
  const base = proc.sys.brk(0);
  const a = createSegregated(proc);
  const p = [100, 16, 300, 16, 200, 16].map((n) => a.malloc(n));
  expect(p.map((x) => x - base)).toEqual([1120, 1232, 1264, 1584, 1616, 1824]);
  a.free(p[0]!, 100);
  a.free(p[2]!, 300);
  a.free(p[4]!, 200);
  return { proc, base, a };
}

describe("segregated fit", () => {
  it("a request is served from its own class when it can be: 208 bytes from E, 320 from C", () => {
    const { base, a } = holes();
    expect(a.malloc(190) - base).toBe(1616);
    expect(a.malloc(300) - base).toBe(1264);
    a.check();
  });

  it("an empty class falls through to the next non-empty one: malloc(60) splits A's 112-byte block", () => {
    const { base, a } = holes();
    expect(a.malloc(60) - base).toBe(1120);
    // The 32-byte remainder of A went to class 2 and serves the next small request.
    expect(a.malloc(20) - base).toBe(1120 + 80);
    a.check();
  });

  it("the checker notices a class bitmap out of step with its list (SEG-1)", () => {
    const { proc, base, a } = holes();
    a.check();
    proc.mem.write32(base + 64, 0);
    expect(() => a.check()).toThrow(/^SEG-1: class 7/);
  });
});
