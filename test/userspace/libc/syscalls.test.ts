import { describe, expect, it } from "vitest";
import { EINVAL, ENOMEM } from "../../../kernel/errno.ts";
import { SegmentationFault } from "../../../kernel/signal.ts";
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { LibcSyscalls } from "../../../userspace/libc/syscalls.ts";
import { HEAP_START, tracedProcess } from "../../support/traced_process.ts";

const H = HEAP_START;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function setup() {
  const t = tracedProcess();
  return { p: t.p, mem: t.p.mem, log: t.log, libc: new LibcSyscalls(t.proc) };
}

describe("brk and sbrk as glibc gives them", () => {
  it("sbrk(0) reads the break with one brk(0) and then from libc's cache", () => {
    const { log, libc } = setup();
    expect(libc.sbrk(0)).toBe(H);
    expect(libc.sbrk(0)).toBe(H);
    expect(log).toEqual([`brk(0) = 0x${H.toString(16)}`]);
  });

  it("sbrk returns the old break and moves it by any byte amount, both ways", () => {
    const { log, libc } = setup();
    expect(libc.sbrk(100)).toBe(H);
    expect(libc.sbrk(-40)).toBe(H + 100);
    expect(libc.curbrk).toBe(H + 60);
    expect(log.slice(1)).toEqual([
      `brk(0x${(H + 100).toString(16)}) = 0x${(H + 100).toString(16)}`,
      `brk(0x${(H + 60).toString(16)}) = 0x${(H + 60).toString(16)}`,
    ]);
  });

  it("brk returns 0 on success and -1 with ENOMEM when the kernel keeps the old break", () => {
    const { p, libc } = setup();
    p.setrlimit("data", 8192);
    expect(libc.brk(H + 4096)).toBe(0);
    expect(libc.errno).toBe(0);
    expect(libc.brk(H + 3 * 4096)).toBe(-1);
    expect(libc.errno).toBe(ENOMEM);
    expect(libc.curbrk).toBe(H + 4096);
  });

  it("sbrk fails with (void *) -1 and ENOMEM, break unchanged", () => {
    const { p, libc } = setup();
    p.setrlimit("data", 4096);
    expect(libc.sbrk(8192)).toBe(-1);
    expect(libc.errno).toBe(ENOMEM);
    expect(libc.sbrk(0)).toBe(H);
  });

  it("sbrk below address 0 is ENOMEM without a system call", () => {
    const { log, libc } = setup();
    libc.sbrk(0);
    expect(libc.sbrk(-H - 1)).toBe(-1);
    expect(libc.errno).toBe(ENOMEM);
    expect(log).toHaveLength(1);
  });

  it("a successful call leaves an old errno alone", () => {
    const { libc } = setup();
    libc.errno = EINVAL;
    expect(libc.sbrk(16)).toBe(H);
    expect(libc.errno).toBe(EINVAL);
  });
});

describe("mmap family", () => {
  it("mmap returns the address; failure is MAP_FAILED with errno", () => {
    const { libc } = setup();
    const a = libc.mmap(0, 8192, RW, ANON);
    expect(a).toBeGreaterThan(0);
    expect(a % 4096).toBe(0);
    expect(libc.mmap(0, 0, RW, ANON)).toBe(MAP_FAILED);
    expect(libc.errno).toBe(EINVAL);
  });

  it("munmap, mprotect and madvise return 0 or -1 with errno", () => {
    const { mem, libc } = setup();
    const a = libc.mmap(0, 3 * 4096, RW, ANON);
    mem.write32(a + 4096, 7);
    expect(libc.madvise(a, 3 * 4096, MADV_DONTNEED)).toBe(0);
    expect(mem.read32(a + 4096)).toBe(0);
    expect(libc.munmap(a + 1, 4096)).toBe(-1);
    expect(libc.errno).toBe(EINVAL);
    expect(libc.munmap(a + 2 * 4096, 4096)).toBe(0);
    expect(libc.madvise(a + 2 * 4096, 4096, MADV_DONTNEED)).toBe(-1);
    expect(libc.errno).toBe(ENOMEM);
    expect(libc.mprotect(a, 4096, PROT_NONE)).toBe(0);
    expect(libc.counts).toEqual({ brk: 0, mmap: 1, munmap: 2, mprotect: 1, madvise: 2, mremap: 0 });
    expect(libc.syscalls).toBe(6);
    expect(() => mem.read8(a)).toThrow(SegmentationFault);
  });

  it("mremap grows a mapping in place or moves it with its contents", () => {
    const { mem, libc } = setup();
    const a = libc.mmap(0, 4096, RW, ANON);
    mem.write32(a, 0xdeadbeef);
    const b = libc.mremap(a, 4096, 64 * 4096, 1);
    expect(b).not.toBe(MAP_FAILED);
    expect(mem.read32(b)).toBe(0xdeadbeef);
    expect(libc.mremap(a + 1, 4096, 8192, 1)).toBe(MAP_FAILED);
    expect(libc.errno).toBe(EINVAL);
  });
});
