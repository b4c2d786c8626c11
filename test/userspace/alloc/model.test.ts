import { describe, expect, it } from "vitest";
import { createArena } from "../../../userspace/alloc/arena.ts";
import { createBuddy } from "../../../userspace/alloc/buddy.ts";
import { createHoard } from "../../../userspace/alloc/hoard.ts";
import { allocatorNames, createAllocator, TEACHING_ALLOCATORS } from "../../../userspace/alloc/index.ts";
import { createPool } from "../../../userspace/alloc/pool.ts";
import { createSegregated } from "../../../userspace/alloc/segregated.ts";
import { checkAllocatorModel } from "../../support/alloc_model.ts";
import { makeFlatProcess, makeTestProcess } from "../../support/process.ts";

describe("every registered allocator against the model: random malloc/free/realloc, checker after each step", () => {
  for (const name of allocatorNames()) {
    // The list-order and coalescing variants share all code but their list policy: fewer runs each.
    const runs = TEACHING_ALLOCATORS.includes(name) ? 50 : 25;
    it(name, () => checkAllocatorModel((p) => createAllocator(name, p), runs));
  }
});

describe("option variants against the model", () => {
  it("arena aligned to 64", () => checkAllocatorModel((p) => createArena(p, { align: 64, growBytes: 8192 })));
  it("pool of 16-byte blocks growing one page at a time", () =>
    checkAllocatorModel((p) => createPool(p, { blockSize: 16, blocksPerGrow: 1 })));
  it("segregated with address-ordered classes", () => checkAllocatorModel((p) => createSegregated(p, { order: "address", growBytes: 16 })));
  it("buddy with 4 KiB top blocks (many tops, large requests mmapped)", () => checkAllocatorModel((p) => createBuddy(p, { topOrder: 8 })));
  it("hoard with 8 KiB superblocks that are unmapped as soon as they empty", () =>
    checkAllocatorModel((p) => createHoard(p, { superblockBytes: 8192, keepEmpty: 0 })));
});

describe("on the flat process: allocators need nothing but the UserProcess contract", () => {
  for (const name of ["segregated", "buddy", "hoard"]) {
    it(name, () =>
      checkAllocatorModel(
        (p) => createAllocator(name, p),
        30,
        40,
        () => makeFlatProcess({ brkBytes: 64 << 20, mmapBytes: 64 << 20 }),
      ),
    );
  }
});

describe("out of memory is NULL, never a crash", () => {
  for (const name of allocatorNames()) {
    it(`${name}: malloc(1 GiB) on a 64 MiB machine returns NULL and the heap stays usable`, () => {
      const proc = makeTestProcess();
      const a = createAllocator(name, proc);
      const x = a.malloc(100);
      expect(a.malloc(1 << 30)).toBe(0);
      expect(a.realloc(x, 100, 1 << 30)).toBe(0);
      a.check();
      expect(a.stats().liveBytes).toBe(100);
      const y = a.malloc(100);
      expect(y).not.toBe(0);
      a.free(y, 100);
      a.free(x, 100);
      a.check();
    });
  }
});
