/**
 * Linux conformance, round 2 (kernel/LINUX.md, "Round 2"): cases checked
 * against a Linux 6.x kernel, one test each, exact values.
 */
import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from "../../sim/index.ts";
import { boot, PAGE } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;

/** The block of /proc/PID/smaps for the VMA starting at `start`. */
function smapsOf(p: ReturnType<typeof boot>["p"], start: number): string {
  return (
    p.proc
      .smaps()
      .split(/(?=^[0-9a-f]+-)/m)
      .find((b) => b.startsWith(start.toString(16))) ?? ""
  );
}
const kbField = (block: string, key: string) => Number(new RegExp(`\\n${key}: +(\\d+) kB`).exec(block)?.[1]);

describe("COW isolation after mprotect (LINUX.md: Round 2, 1)", () => {
  it("a page read-only at fork, made writable in the parent, is copied on the parent's first write", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 1);
    expect(p.sys.mprotect(BASE, PAGE, PROT_READ)).toBe(0);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(p.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    p.mem.write8(BASE, 2);
    expect(c.mem.read8(BASE)).toBe(1);
    expect(p.mem.read8(BASE)).toBe(2);
    m.check();
  });
  it("a page PROT_NONE at fork, made writable in the child, is copied on the child's first write", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 7);
    expect(p.sys.mprotect(BASE, PAGE, PROT_NONE)).toBe(0);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(c.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    c.mem.write8(BASE, 8);
    expect(p.sys.mprotect(BASE, PAGE, PROT_READ)).toBe(0);
    expect(p.mem.read8(BASE)).toBe(7);
    expect(c.mem.read8(BASE)).toBe(8);
    m.check();
  });
});
