import { beforeEach, describe, expect, it } from "vitest";
import { SegmentationFault } from "../../../kernel/signal.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import type { UserMemory } from "../../../userspace/env.ts";
import { Libc } from "../../../userspace/libc/libc.ts";
import { tracedProcess } from "../../support/traced_process.ts";

let proc: UserMemory;
let libc: Libc;
let buf: number;

beforeEach(() => {
  const t = tracedProcess();
  proc = t.p.mem;
  libc = new Libc(t.proc);
  buf = libc.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
});

function bytes(va: number, n: number): number[] {
  return [...proc.read(va, n)];
}

describe("string functions over the MMU", () => {
  it("memset fills across a page boundary and returns s", () => {
    expect(libc.memset(buf + 4090, 0x1ab, 12)).toBe(buf + 4090);
    expect(bytes(buf + 4089, 14)).toEqual([0, ...Array(12).fill(0xab), 0]);
  });

  it("memcpy copies across page boundaries of source and destination", () => {
    for (let i = 0; i < 300; i++) proc.write8(buf + 4000 + i, i & 0xff);
    expect(libc.memcpy(buf + 3 * 4096 - 100, buf + 4000, 300)).toBe(buf + 3 * 4096 - 100);
    expect(bytes(buf + 3 * 4096 - 100, 300)).toEqual(Array.from({ length: 300 }, (_, i) => i & 0xff));
  });

  it("memmove handles overlap in both directions", () => {
    const pattern = Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
    proc.write(buf + 1000, Uint8Array.from(pattern));
    libc.memmove(buf + 1003, buf + 1000, 5000);
    expect(bytes(buf + 1003, 5000)).toEqual(pattern);
    libc.memmove(buf + 990, buf + 1003, 5000);
    expect(bytes(buf + 990, 5000)).toEqual(pattern);
  });

  it("memcmp returns the difference of the first differing unsigned bytes", () => {
    libc.memset(buf, 0x41, 5000);
    libc.memset(buf + 8192, 0x41, 5000);
    expect(libc.memcmp(buf, buf + 8192, 5000)).toBe(0);
    proc.write8(buf + 8192 + 4500, 0xff);
    expect(libc.memcmp(buf, buf + 8192, 5000)).toBe(0x41 - 0xff);
    expect(libc.memcmp(buf + 8192, buf, 5000)).toBe(0xff - 0x41);
    expect(libc.memcmp(buf, buf + 8192, 4500)).toBe(0);
  });

  it("strlen finds the NUL on a later page", () => {
    libc.memset(buf + 100, 0x61, 6000);
    expect(libc.strlen(buf + 100)).toBe(6000);
    expect(libc.strlen(buf + 6100)).toBe(0);
  });

  it("a string running into an unmapped page is SIGSEGV at that page", () => {
    libc.memset(buf, 0x61, 4 * 4096);
    expect(() => libc.strlen(buf + 10)).toThrow(SegmentationFault);
  });
});
