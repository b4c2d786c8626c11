import { describe, expect, it } from "vitest";
import { HeapCorruption } from "../../../userspace/alloc/allocator.ts";
import { createMalloc } from "../../../userspace/malloc/index.ts";
import { tracedProcess } from "../../support/traced_process.ts";

describe("the default malloc behind the Allocator interface", () => {
  it("is named malloc, counts live payload, heap bytes, their peak and its system calls", () => {
    const { proc } = tracedProcess();
    const a = createMalloc(proc);
    expect(a.name).toBe("malloc");
    expect(a.proc).toBe(proc);
    const p = a.malloc(1000);
    const q = a.malloc(300000);
    expect(a.stats()).toEqual({ heapBytes: 2064 + 303104, peakHeapBytes: 2064 + 303104, liveBytes: 301000, syscalls: 3 });
    const r = a.realloc(p, 1000, 3000);
    a.free(q, 300000);
    expect(a.stats()).toEqual({ heapBytes: 4064, peakHeapBytes: 4064 + 303104, liveBytes: 3000, syscalls: 5 });
    a.free(r, 3000);
    a.free(0, 0);
    expect(a.stats().liveBytes).toBe(0);
    a.check();
  });

  it("check() throws HeapCorruption with an ID when the heap was overwritten", () => {
    const { proc } = tracedProcess();
    const a = createMalloc(proc);
    const p = a.malloc(200);
    a.malloc(200);
    proc.mem.write32(p - 8, 208 | 1 | 8);
    expect(() => a.check()).toThrow(HeapCorruption);
    expect(() => a.check()).toThrow(/^MALLOC-/);
  });
});
