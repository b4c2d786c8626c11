/** Process and address-space benchmarks (issues: address spaces; fork/COW/mremap). */
import {
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const PAGE = 4096;

let dzReset: (() => void) | undefined;
/** One write fault per op: an untouched private page gets a zeroed frame (default configuration). */
const demandZero: BenchCase = {
  name: "fault: demand-zero write fault (per page) [default config]",
  ops: 1024,
  rounds: 40,
  baseline: "first touch of a fresh 4 KiB page (host ArrayBuffer)",
  target: 1.5,
  setup() {
    const m = Machine.boot({ ramBytes: 512 << 20, seed: 1 });
    const p = m.spawn("bench");
    // A 4 MiB region (1024 pages), like the baseline's 4 MiB buffer. Between
    // timed rounds (untimed) it is unmapped and mapped again, so each round
    // faults every page in afresh.
    const span = 4 << 20;
    const base = p.sys.mmap(0, span, RW, PA, -1, 0);
    let off = 0;
    dzReset = () => {
      p.sys.munmap(base, span);
      p.sys.mmap(base, span, RW, PA | MAP_FIXED, -1, 0);
      off = 0;
    };
    return (ops) => {
      for (let i = 0; i < ops && off < span; i++) {
        p.mem.write8(base + off, 1);
        off += PAGE;
      }
    };
  },
  reset: () => dzReset?.(),
};

/** mmap + munmap of one page with `n` other VMAs present. */
function mmapWith(n: number): BenchCase {
  return {
    name: `mmap/munmap pair with ${n} VMAs present`,
    ops: 50_000,
    baseline: "int32-stack push/pop",
    setup() {
      const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
      const p = m.spawn("bench");
      // every other page, so that nothing merges
      for (let i = 0; i < n; i++) p.sys.mmap(0x100000000 + i * 2 * PAGE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
      return (ops) => {
        for (let i = 0; i < ops; i++) p.sys.munmap(p.sys.mmap(0, PAGE, RW, PA, -1, 0), PAGE);
      };
    },
  };
}

let lastMaxMapMs = 0;
let lastMaxMapCount = 0;
/** Maps single pages until ENOMEM (vm.max_map_count 65530). */
const maxMaps: BenchCase = {
  name: "65,530 mappings then ENOMEM (per run)",
  ops: 1,
  setup() {
    return () => {
      const m = Machine.boot({ ramBytes: 256 << 20, debugVm: 0 });
      const p = m.spawn("bench");
      const t0 = process.hrtime.bigint();
      let n = 0;
      for (;;) {
        const a = p.sys.mmap(0x100000000 + n * 2 * PAGE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
        if (a < 0) break;
        n++;
      }
      lastMaxMapMs = Number(process.hrtime.bigint() - t0) / 1e6;
      lastMaxMapCount = n + 1;
    };
  },
  report: () => `${lastMaxMapCount} VMAs (stack included) before ENOMEM, in ${lastMaxMapMs.toFixed(1)} ms`,
};

let forkPages = 0;
/** fork of a process with 256 MiB touched; per mapped page. */
const fork256: BenchCase = {
  name: "fork of a process with 256 MiB touched (per page)",
  ops: 65536,
  setup() {
    const m = Machine.boot({ ramBytes: 1 << 30, debugVm: 0 });
    const p = m.spawn("bench");
    const a = p.sys.mmap(0, 256 << 20, RW, PA, -1, 0);
    for (let off = 0; off < 256 << 20; off += PAGE) p.mem.write8(a + off, 1);
    forkPages = (256 << 20) / PAGE;
    return () => {
      const c = p.fork();
      if (c === null) throw new Error("fork failed");
      c.exit(0);
    };
  },
  report: () => `${forkPages} pages shared copy-on-write per fork; the figure includes the child's exit`,
};

/** A COW write fault: the page is shared with a child and gets copied. */
const cowFault: BenchCase = {
  name: "fault: COW write fault that copies (per page)",
  ops: 8192,
  baseline: "4 KiB copy",
  setup() {
    const m = Machine.boot({ ramBytes: 512 << 20, debugVm: 0 });
    const p = m.spawn("bench");
    const pages = 8192;
    const a = p.sys.mmap(0, pages * PAGE, RW, PA, -1, 0);
    for (let i = 0; i < pages; i++) p.mem.write8(a + i * PAGE, 1);
    let child = p.fork();
    let i = 0;
    return (ops) => {
      for (let k = 0; k < ops; k++) {
        if (i === pages) {
          child?.exit(0);
          child = p.fork();
          i = 0;
        }
        p.mem.write8(a + i * PAGE, 2);
        i++;
      }
    };
  },
};

/** mremap of a 64 MiB populated mapping: entries move, frames stay. */
const mremap64: BenchCase = {
  name: "mremap of a 64 MiB populated mapping (per call)",
  ops: 4,
  baseline: "4 KiB copy",
  setup() {
    const m = Machine.boot({ ramBytes: 256 << 20, debugVm: 0 });
    const p = m.spawn("bench");
    const size = 64 << 20;
    let at = p.sys.mmap(0x200000000, size, RW, PA | MAP_FIXED, -1, 0);
    for (let off = 0; off < size; off += PAGE) p.mem.write8(at + off, 1);
    return (ops) => {
      for (let k = 0; k < ops; k++) {
        const to = at === 0x200000000 ? 0x300000000 : 0x200000000;
        at = p.sys.mremap(at, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
      }
    };
  },
  report: () =>
    "the ratio is against copying ONE 4 KiB page (copying the data would take 16384 of them); 2 MiB-aligned pieces move as whole page tables",
};

/**
 * One page's round trip through swap per op: MADV_PAGEOUT of a written page
 * (a slot, a 4 KiB write, the PTE becomes a swap entry, the frame is freed)
 * and the read that brings it back (a major fault: a frame, a 4 KiB read,
 * the PTE again). Two page copies of work, so the baseline is one copy.
 */
const swapRoundTrip: BenchCase = {
  name: "swap: MADV_PAGEOUT then a major fault back (per page)",
  ops: 20_000,
  baseline: "4 KiB copy",
  target: 20,
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, swapBytes: 4 << 20, debugVm: 0 });
    const p = m.spawn("bench");
    const pages = 256;
    const base = p.sys.mmap(0, pages * PAGE, RW, PA, -1, 0);
    for (let i = 0; i < pages; i++) p.mem.write32(base + i * PAGE, i);
    let i = 0;
    return (ops) => {
      for (let n = 0; n < ops; n++) {
        const va = base + (i++ % pages) * PAGE;
        // The read maps the page back writable and clean (it stays in the swap
        // cache); the write dirties it, so every pageout writes it out again.
        p.sys.madvise(va, PAGE, MADV_PAGEOUT);
        p.mem.write32(va + 4, p.mem.read32(va));
      }
    };
  },
};

export const PROCESS_CASES: readonly BenchCase[] = [
  demandZero,
  mmapWith(100),
  mmapWith(10_000),
  maxMaps,
  fork256,
  cowFault,
  mremap64,
  swapRoundTrip,
];
