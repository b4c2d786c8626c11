/**
 * The flat process is a stand-in for a kernel process: the same scenarios
 * run on both must give the same raw results (addresses taken relative to
 * where each put the heap or the mapping).
 */
import { describe, expect, it } from "vitest";
import { EBADF, EEXIST, EINVAL } from "../../kernel/errno.ts";
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/uapi/mman.ts";
import { SEGV_ACCERR, SEGV_MAPERR } from "../../kernel/uapi/signal.ts";
import type { UserProcess } from "../../userspace/env.ts";
import { makeFlatProcess, makeTestProcess } from "./process.ts";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** What an access did: "ok", its value, or the SIGSEGV code and the fault's offset from `base`. */
function access(base: number, f: () => unknown): string {
  try {
    const v = f();
    return v === undefined ? "ok" : String(v);
  } catch (e) {
    const s = e as { code?: number; addr?: number };
    return `SEGV ${s.code === SEGV_MAPERR ? "MAPERR" : s.code === SEGV_ACCERR ? "ACCERR" : "?"} +${(s.addr ?? 0) - base}`;
  }
}

/** Scenarios, each in a fresh process (a fault may kill it); each returns what it observed. */
const scenarios: Record<string, (p: UserProcess) => unknown[]> = {
  "brk: query, grow to a byte, page-granular end, shrink, regrow reads zero": (p) => {
    const s = p.sys.brk(0);
    const out: unknown[] = [p.sys.brk(s - 1) - s, p.sys.brk(s + 5000) - s];
    p.mem.write32(s + 8188, 0xdeadbeef);
    out.push(p.mem.read32(s + 8188).toString(16));
    out.push(
      p.sys.brk(s + 100) - s,
      access(s, () => p.mem.read8(s + 99)),
      p.sys.brk(s + 8192) - s,
    );
    out.push(access(s, () => p.mem.read32(s + 8188)));
    p.mem.write8(s + 50, 7);
    out.push(p.sys.brk(s + 60) - s, p.mem.read8(s + 50));
    out.push(access(s, () => p.mem.read8(s + 8191 + 4096)));
    return out;
  },
  "mmap argument errors": (p) => [
    p.sys.mmap(0, 0, RW, ANON, -1, 0),
    p.sys.mmap(0, 4096, RW, MAP_ANONYMOUS, -1, 0),
    p.sys.mmap(0, 4096, RW, ANON, -1, 100),
    p.sys.mmap(0, 4096, RW, MAP_PRIVATE, 3, 0),
    p.sys.munmap(1, 4096),
    p.sys.munmap(0x100000, 0),
  ],
  "mmap reads zero, munmap of the middle leaves two pieces, a touch in the hole faults": (p) => {
    const a = p.sys.mmap(0, 3 * 4096, RW, ANON, -1, 0);
    const out: unknown[] = [a % 4096, p.mem.read32(a + 4)];
    p.mem.fill(a, 0xab, 3 * 4096);
    out.push(p.sys.munmap(a + 4096, 4096), p.mem.read8(a + 4095), p.mem.read8(a + 8192));
    out.push(p.sys.mmap(a + 4096, 4096, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0) - a);
    out.push(p.sys.mmap(a, 4096, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0) === -EEXIST);
    out.push(p.mem.read8(a + 4096), p.sys.munmap(a + 4096, 4096));
    out.push(access(a, () => p.mem.write8(a + 5000, 1)));
    return out;
  },
  "mprotect read-only and PROT_NONE: SEGV_ACCERR at the exact byte": (p) => {
    const a = p.sys.mmap(0, 2 * 4096, RW, ANON, -1, 0);
    p.mem.write8(a + 10, 5);
    const out: unknown[] = [p.sys.mprotect(a, 4096, PROT_READ), p.mem.read8(a + 10)];
    out.push(p.sys.mprotect(a + 4096, 4096, PROT_NONE));
    out.push(access(a, () => p.mem.read32(a + 4094)));
    return out;
  },
  "a write to a read-only page": (p) => {
    const a = p.sys.mmap(0, 4096, PROT_READ, ANON, -1, 0);
    return [access(a, () => p.mem.write32(a + 12, 1))];
  },
  "madvise(MADV_DONTNEED) drops the bytes; unknown advice is EINVAL": (p) => {
    const a = p.sys.mmap(0, 4096, RW, ANON, -1, 0);
    p.mem.write8(a, 9);
    return [p.sys.madvise(a, 4096, 99), p.sys.madvise(a, 4096, MADV_DONTNEED), p.mem.read8(a)];
  },
  "mremap grows a mapping, keeping its bytes": (p) => {
    const a = p.sys.mmap(0, 4096, RW, ANON, -1, 0);
    p.mem.write32(a + 100, 0x1234);
    const b = p.sys.mremap(a, 4096, 3 * 4096, MREMAP_MAYMOVE);
    return [b > 0, p.mem.read32(b + 100), p.mem.read32(b + 3 * 4096 - 4)];
  },
};

describe("the flat test process behaves as a kernel process does", () => {
  for (const [what, run] of Object.entries(scenarios)) {
    it(what, () => {
      const flat = run(makeFlatProcess());
      const real = run(makeTestProcess({ ramBytes: 8 << 20 }));
      expect(flat).toEqual(real);
    });
  }

  it("the errno values it returns are Linux's", () => {
    const p = makeFlatProcess();
    expect([p.sys.mmap(0, 0, RW, ANON), p.sys.mmap(0, 1, RW, MAP_PRIVATE, 3)]).toEqual([-EINVAL, -EBADF]);
  });
});
