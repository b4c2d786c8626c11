import { describe, expect, it } from "vitest";
import { BUS_ADRERR, BusError, MAP_ANONYMOUS, MAP_FIXED, MAP_SHARED, PROT_READ, PROT_WRITE, SIGBUS } from "../../sim/index.ts";
import { boot, meminfo, PAGE } from "./helpers.ts";

const BASE = 0x100000000;

function busError(fn: () => unknown): BusError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BusError) return e;
    throw e;
  }
  throw new Error("expected SIGBUS, the access succeeded");
}

describe("a shared anonymous mapping grown by mremap past its object", () => {
  it("a load from the grown part is SIGBUS with BUS_ADRERR at the exact address; the object's own pages still work", () => {
    const { m, p } = boot();
    expect(p.sys.mmap(BASE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(BASE);
    expect(p.sys.mremap(BASE, PAGE, 4 * PAGE, 0)).toBe(BASE);
    p.mem.write8(BASE + 5, 7);
    const child = p.fork();
    expect(child?.mem.read8(BASE + 5)).toBe(7);
    const e = busError(() => child?.mem.read8(BASE + 2 * PAGE + 17));
    expect([e.signo, e.code, e.addr]).toEqual([SIGBUS, BUS_ADRERR, BASE + 2 * PAGE + 17]);
    expect(child?.state).toBe("killed");
    expect(child?.exitSignal).toBe(SIGBUS);
    expect(meminfo(m, "Shmem")).toBe(4);
  });

  it("a store far past the end (past the object's page index) is SIGBUS, and the slab stays intact", () => {
    const { m, p } = boot();
    expect(p.sys.mmap(BASE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(BASE);
    expect(p.sys.mremap(BASE, PAGE, 3000 * PAGE, 0)).toBe(BASE);
    const e = busError(() => p.mem.write8(BASE + 2999 * PAGE, 1));
    expect([e.code, e.addr]).toEqual([BUS_ADRERR, BASE + 2999 * PAGE]);
    expect(m.kernel.validateSlabs()).toBe(0);
    m.check();
  });
});
