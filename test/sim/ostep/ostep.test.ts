/**
 * `memsim ostep SIMULATOR` against the originals' outputs:
 * test/golden/ostep/SIMULATOR/N.out is what OSTEP's SIMULATOR.py printed
 * for line N of ARGS (malloc and paging-linear-translate under python3;
 * paging-multilevel-translate under python2, the only Python it runs on);
 * memsim must print the same bytes and exit with the same status (1 after
 * an "Error" line, as the original's exit(1)).
 *
 * The translation simulators answer by walking a teaching address space in
 * memsim RAM (kernel/mm/mmu_teach.ts); the cases after the first 14
 * (paging-linear-translate) and 12 (paging-multilevel-translate) were added
 * with it: small pages (32..256 bytes), verbose tables, -A addresses past
 * 2^32 and below zero (the original keeps the low 32 bits), each printed by
 * the original under the same Python.
 *
 * paging-policy: the small cases (1-6: OSTEP's string 0,1,2,0,1,3,0,3,1,2,1
 * under each policy, Belady's string; 13, 16) were traced by hand through
 * the program's rules (a hit moves the page to the MRU end for LRU and MRU
 * only; a miss with a full cache pops index 0 for FIFO and LRU, the last of
 * the pages used farthest ahead or never for OPT (its >=), the first used
 * soonest for UNOPT; the list is printed with '%12s'; hitrate '%.2f'), and
 * every case, the seed-drawn ones (RAND and CLOCK draw their victims from
 * the same generator as the addresses) included, was checked against
 * paging-policy.py under python3. memsim computes each answer on a machine
 * (sim/ostep/paging_policy_machine.ts).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pyFixed2 } from "../../../sim/ostep/paging_policy.ts";
import { PyRandom } from "../../../sim/ostep/py_random.ts";
import { memsim } from "../cli/helpers.ts";

function cases(sim: string): (readonly [string, number, string])[] {
  const dir = join(import.meta.dirname, "../../golden/ostep", sim);
  return readFileSync(join(dir, "ARGS"), "utf8")
    .trim()
    .split("\n")
    .map((args, i) => [args, i + 1, readFileSync(join(dir, `${i + 1}.out`), "utf8")] as const);
}

describe.each(["malloc", "paging-linear-translate", "paging-multilevel-translate", "paging-policy"])("memsim ostep %s", (sim) => {
  it.each(cases(sim))("%s prints what the original printed (case %d)", async (args, _n, want) => {
    const r = await memsim(["ostep", sim, ...args.split(" ")]);
    expect(r.out).toBe(want);
    expect(r.status).toBe(/^Error/m.test(want) ? 1 : 0);
  });

  it("refuses an unknown flag as optparse does (status 2)", async () => {
    const r = await memsim(["ostep", sim, "-x"]);
    expect([r.status, r.err.split("\n").at(-2)]).toEqual([2, `memsim ostep ${sim}: error: no such option: -x`]);
  });
});

describe("PyRandom: Python's Mersenne Twister", () => {
  it("gives CPython's random() and randint() for int seeds, 0 and above 2^32 included", () => {
    const draws = [0, 1, 123456, 2 ** 33 + 7].map((s) => {
      const r = new PyRandom(s);
      return [r.random(), r.random(), r.randint(1, 10), r.randint(0, 1000)];
    });
    // python3 -c "import random; random.seed(s); print(random.random(), random.random(), random.randint(1,10), random.randint(0,1000))"
    expect(draws).toEqual([
      [0.8444218515250481, 0.7579544029403025, 7, 41],
      [0.13436424411240122, 0.8474337369372327, 2, 261],
      [0.8056271362589, 0.7940590105180981, 1, 819],
      [0.7042964166818435, 0.15008850079098557, 5, 970],
    ]);
  });
});

describe("memsim ostep paging-multilevel-translate out of pages", () => {
  it("stops with status 1 where the original's assertion fails (-a 100: 128 pages cannot hold it)", async () => {
    const r = await memsim(["ostep", "paging-multilevel-translate", "-s", "4", "-a", "100"]);
    expect([r.status, r.err]).toEqual([
      1,
      "memsim ostep paging-multilevel-translate: AssertionError: out of physical pages: allocate fewer virtual pages (-a)\n",
    ]);
  });
});

describe("memsim paging-policy: the answers come from a machine", () => {
  it("is memsim ostep paging-policy under its own name", async () => {
    const args = ["-a", "0,1,2,0,1,3,0,3,1,2,1", "-p", "LRU", "-c"];
    const [a, b] = [await memsim(["paging-policy", ...args]), await memsim(["ostep", "paging-policy", ...args])];
    expect([a.status, a.out]).toEqual([0, b.out]);
  });

  it("--show-kernel adds the kernel's view: OPT on OSTEP's string faults 5 times, swaps 2 and 3 out and 2 back in", async () => {
    // By hand: misses 0 1 2 (first touches), 3 (evicts 2: pswpout), 2 (evicts 3: pswpout; 2 read back: pgmajfault, pswpin).
    // At the end 0 1 2 are resident (3 frames, 12 kB, all on the inactive list: OPT keeps its own order) and 3 is in swap.
    const r = await memsim(["paging-policy", "-a", "0,1,2,0,1,3,0,3,1,2,1", "-p", "OPT", "-c", "--show-kernel"]);
    expect(r.out.split("\n").slice(-6)).toEqual([
      "KERNEL policy opt in a memory cgroup of 3 frames, every access reported",
      "KERNEL pgfault 5   pgmajfault 1   pswpin 1   pswpout 2",
      "KERNEL memory.current 12288   memory.swap.current 4096",
      "KERNEL Active(anon) 0 kB   Inactive(anon) 12 kB",
      "",
      "",
    ]);
  });

  it("reads --addressfile one page a line, as -a would give them", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "memsim-pp-")), "addrs");
    writeFileSync(file, "0\n1\n2\n0\n3\n1\n");
    const [f, a] = [await memsim(["paging-policy", "-f", file, "-c"]), await memsim(["paging-policy", "-a", "0,1,2,0,3,1", "-c"])];
    // The ARG lines differ (addresses -1 and the file's name, against the list and none); the rest is the same.
    expect(f.out.split("\n").slice(10)).toEqual(a.out.split("\n").slice(10));
    // FIFO by hand: 0m 1m 2m 0h 3m (0 goes) 1h.
    expect(f.out.split("\n").at(-3)).toBe("FINALSTATS hits 2   misses 4   hitrate 33.33");
  });

  it("says a policy the original does not know is not implemented, with status 1", async () => {
    const r = await memsim(["paging-policy", "-p", "LFU", "-c"]);
    expect([r.status, r.out.split("\n").at(-2)]).toEqual([1, "Policy LFU is not yet implemented"]);
  });

  it("prints '%.2f' as Python does: an exact tie rounds to even, anything else as toFixed", () => {
    // 12.125 and 0.375 are exact in binary: Python gives 12.12 and 0.38; 600/11 = 54.5454... gives 54.55.
    expect([pyFixed2(12.125), pyFixed2(0.375), pyFixed2(37.5), pyFixed2(600 / 11)]).toEqual(["12.12", "0.38", "37.50", "54.55"]);
  });
});

describe("memsim ostep paging-*-translate --show-kernel: the tables live in memsim frames", () => {
  /** The memsim pfn the "KERNEL n memsim frame(s)" line gives for teaching bytes starting at `base`. */
  function frameOf(out: string, base: string): number {
    const m = new RegExp(`P${base}-0x[0-9a-f]+ in pfn 0x([0-9a-f]+)`).exec(out);
    return Number.parseInt(m?.[1] ?? "nan", 16);
  }

  it("multilevel -s 0: one frame holds the 4 KiB; each walk's PDE and PTE read from it, as the answers say", async () => {
    const plain = await memsim(["ostep", "paging-multilevel-translate", "-s", "0", "-c", "-n", "2"]);
    const r = await memsim(["ostep", "paging-multilevel-translate", "-s", "0", "-c", "-n", "2", "--show-kernel"]);
    expect(r.out.startsWith(plain.out)).toBe(true);
    const f = frameOf(r.out, "0x0") * 4096;
    const mem = (pa: number) => `memsim P0x${(f + pa).toString(16)}`;
    // By hand (the golden's numbers): 0x611c reads PDE 24 of page 108 (byte 0xd98) = 0xa1 and PTE 8 of page 33
    // (0x428) = 0xb5 -> 53*32+28 = 0x6bc; 0x3da8 reads PDE 15 (0xd8f) = 0xd6 and PTE 13 of page 86 (0xacd) = 0x7f.
    const kernel = r.out.slice(plain.out.length).split("\n");
    expect(kernel[0]).toMatch(/^KERNEL teaching address space ostep-multilevel: 15-bit addresses, 32-byte pages/);
    expect(kernel[1]).toBe(`KERNEL 1 memsim frame (alloc_pages order 0): P0x0-0xfff in pfn 0x${(f / 4096).toString(16)}`);
    expect(kernel[2]).toBe("KERNEL page directory page: 108 (P0xd80), root register = page 108");
    expect(kernel.slice(4, 6)).toEqual([
      `KERNEL walk 0x611c: PDE P0xd98 (${mem(0xd98)}) = 0xa1 valid, PTE P0x428 (${mem(0x428)}) = 0xb5 valid -> P0x6bc`,
      `KERNEL walk 0x3da8: PDE P0xd8f (${mem(0xd8f)}) = 0xd6 valid, PTE P0xacd (${mem(0xacd)}) = 0x7f not valid -> fault`,
    ]);
    expect(kernel[6]).toMatch(/^KERNEL m\.check\(\) passed; destroyed: MemFree \d+ kB before and after$/);
  });

  it("linear -s 1: only the frame of the table (placed at 64 KiB, past -p) is taken; the PTE of VPN 1 is 0x8000000c", async () => {
    const r = await memsim(["ostep", "paging-linear-translate", "-s", "1", "-c", "-n", "2", "--show-kernel"]);
    const f = frameOf(r.out, "0x10000") * 4096;
    // By hand: 4 KiB pages, so 0x1cc4 is VPN 1 (PTE at 0x10000 + 4), PFN 12: 12*4096 + 0xcc4 = 0xccc4.
    expect(r.out.split("\n").slice(-8, -2)).toEqual([
      "KERNEL teaching address space linear: 14-bit addresses, 4096-byte pages, one level, 4-byte entries (valid bit 31, PFN bits 30..0), 69632 bytes of memory",
      `KERNEL 1 memsim frame (alloc_pages order 0): P0x10000-0x10fff in pfn 0x${(f / 4096).toString(16)}`,
      "KERNEL page table page: 16 (P0x10000), root register = page 16",
      `KERNEL walk 0x1cc4: PTE P0x10004 (memsim P0x${(f + 4).toString(16)}) = 0x8000000c valid -> P0xccc4`,
      `KERNEL walk 0x29b3: PTE P0x10008 (memsim P0x${(f + 8).toString(16)}) = 0x0 not valid -> fault`,
      expect.stringMatching(/^KERNEL m\.check\(\) passed; destroyed: MemFree \d+ kB before and after$/),
    ]);
  });
});
