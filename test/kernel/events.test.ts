/**
 * The typed event stream: exact sequences for small stories, the fields of
 * each kind, and that removing every listener leaves no emit point live.
 */
import { describe, expect, it } from "vitest";
import {
  EVENT_KINDS,
  type EventKind,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  type MemsimEvent,
  PROT_READ,
  PROT_WRITE,
  SIGSEGV,
  xv6Frames,
} from "../../sim/index.ts";
import { formatEventFields } from "../../sim/trace_output.ts";

const PAGE = 4096;

/** Every event from now on as "pid kind: fields", optionally only some kinds. */
function record(m: Machine, only?: readonly EventKind[]): string[] {
  const out: string[] = [];
  m.events.onAll((e) => {
    if (only === undefined || only.includes(e.kind)) out.push(`${e.common_pid} ${e.kind}: ${formatEventFields(e)}`);
  });
  return out;
}

function events(m: Machine): MemsimEvent[] {
  const out: MemsimEvent[] = [];
  m.events.onAll((e) => out.push(e));
  return out;
}

describe("event stream stories", () => {
  it("malloc -> brk -> first write: brk, commit, a VMA, page tables, the page, then the fault", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, seed: 1 });
    const p = m.spawn("p");
    const got = record(m);
    const a = p.libc.malloc(100);
    p.mem.write32(a, 1);
    expect(got).toEqual([
      "1 brk: brk=0x0 ret=0x555555559000",
      "1 vm_enough_memory: pages=1 ret=0 committed=34",
      "1 kmem_cache_alloc: call_site=0x0 ptr=ffff888000022028 bytes_req=40 bytes_alloc=40 gfp_flags=GFP_KERNEL node=0 accounted=false",
      "1 brk: brk=0x5555555595e0 ret=0x5555555595e0",
      // The PUD, PMD and PTE tables, each a zeroed page; the buddy splits to hand them out.
      "1 mm_page_alloc: page=ffff8880000118c0 pfn=0x23 order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO",
      "1 mm_buddy_split: pfn=0x24 order=2 buddy=0x26",
      "1 mm_buddy_split: pfn=0x24 order=1 buddy=0x25",
      "1 mm_page_alloc: page=ffff888000011900 pfn=0x24 order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO",
      "1 mm_page_alloc: page=ffff888000011940 pfn=0x25 order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO",
      "1 mm_buddy_split: pfn=0x26 order=1 buddy=0x27",
      // The heap page itself: a user page, zeroed.
      "1 mm_page_alloc: page=ffff888000011980 pfn=0x26 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO",
      "1 page_fault_user: address=0x555555559000 ip=0x0 error_code=0x6 outcome=demand_zero stack_growth=0 si_code=0",
    ]);
  });

  it("fork -> COW: the child copies the page, then the parent, its only user, reuses it", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, seed: 1 });
    const p = m.spawn("p");
    const a = p.libc.malloc(100);
    p.mem.write32(a, 1);
    const got = record(m, ["task_newtask", "sched_process_fork", "mm_page_alloc", "mm_page_free", "page_fault_user", "sched_process_exit"]);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    c.mem.write32(a, 7);
    p.mem.write32(a, 8);
    expect(got.filter((l) => !l.includes("GFP_KERNEL_ACCOUNT"))).toEqual([
      "1 task_newtask: pid=2 comm=p clone_flags=11 oom_score_adj=0",
      "1 sched_process_fork: comm=p pid=1 child_comm=p child_pid=2",
      "2 mm_page_alloc: page=ffff888000011ac0 pfn=0x2b order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE",
      "2 page_fault_user: address=0x555555559410 ip=0x0 error_code=0x7 outcome=cow_copy stack_growth=0 si_code=0",
      "1 page_fault_user: address=0x555555559410 ip=0x0 error_code=0x7 outcome=cow_reuse stack_growth=0 si_code=0",
    ]);
    // The child's page tables: PUD, PMD, PTE.
    expect(got.filter((l) => l.includes("GFP_KERNEL_ACCOUNT"))).toHaveLength(4);
  });

  it("a read of untouched memory maps the zero page; a write then gets a fresh page (zero_page_copy)", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const p = m.spawn("p");
    const va = p.sys.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const got = record(m, ["page_fault_user"]);
    p.mem.read32(va);
    p.mem.write32(va, 1);
    expect(got.map((l) => l.replace(/address=0x[0-9a-f]+ /, ""))).toEqual([
      "1 page_fault_user: ip=0x0 error_code=0x4 outcome=zero_page stack_growth=0 si_code=0",
      "1 page_fault_user: ip=0x0 error_code=0x7 outcome=zero_page_copy stack_growth=0 si_code=0",
    ]);
  });

  it("a touch below the stack grows it; a wild write ends in SIGSEGV, the signal and the exit", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const p = m.spawn("p");
    const stackStart = Number.parseInt(
      (
        p.proc
          .maps()
          .split("\n")
          .find((l) => l.includes("[stack]")) as string
      ).split("-")[0] as string,
      16,
    );
    const got = record(m, ["page_fault_user", "signal_generate", "signal_deliver", "sched_process_exit"]);
    p.mem.write32(stackStart - PAGE, 1);
    expect(() => p.mem.write32(0x10, 1)).toThrow(/SIGSEGV/);
    expect(got).toEqual([
      `1 page_fault_user: address=0x${(stackStart - PAGE).toString(16)} ip=0x0 error_code=0x6 outcome=demand_zero stack_growth=1 si_code=0`,
      "1 page_fault_user: address=0x10 ip=0x0 error_code=0x6 outcome=sigsegv stack_growth=0 si_code=1",
      "1 signal_generate: sig=11 errno=0 code=1 comm=p pid=1 grp=0 res=0",
      "1 signal_deliver: sig=11 errno=0 code=1 sa_handler=0 sa_flags=0",
      "1 sched_process_exit: comm=p pid=1 prio=120",
    ]);
  });

  it("a SIGSEGV handler that fixes the mapping is delivered with sa_handler 1, and the retry succeeds", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const p = m.spawn("p");
    const va = p.sys.mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    p.onSignal(SIGSEGV, () => {
      p.sys.mprotect(va, PAGE, PROT_READ | PROT_WRITE);
      return "retry";
    });
    const got = record(m, ["page_fault_user", "signal_deliver", "mprotect"]);
    p.mem.write32(va, 5);
    expect(got).toEqual([
      `1 page_fault_user: address=0x${va.toString(16)} ip=0x0 error_code=0x6 outcome=sigsegv stack_growth=0 si_code=2`,
      "1 signal_deliver: sig=11 errno=0 code=2 sa_handler=1 sa_flags=0",
      `1 mprotect: start=0x${va.toString(16)} len=0x1000 prot=0x3 ret=0x0`,
      // Still no entry there: the retry is a not-present write again, now allowed.
      `1 page_fault_user: address=0x${va.toString(16)} ip=0x0 error_code=0x6 outcome=demand_zero stack_growth=0 si_code=0`,
    ]);
  });
});

describe("wiring", () => {
  it("every part that emits holds the machine's one bus, on the buddy allocator and on a lab's", () => {
    for (const layers of [{}, { frames: xv6Frames }]) {
      const k = Machine.boot({ ramBytes: 4 << 20, layers }).kernel;
      const parts = [k.pages.ev, k.paging.tlb.ev, k.slab.ev, k.taskParts.commit.ev, k.tasks.ev];
      expect(parts.map((ev) => ev === k.events)).toEqual([true, true, true, true, true]);
    }
  });
});

describe("event stream on a lab frame allocator", () => {
  it("xv6 kalloc: malloc -> first write -> exit allocates and frees single frames from the top, with no buddy split or merge", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, seed: 1, layers: { frames: xv6Frames } });
    const p = m.spawn("p");
    const got = record(m);
    p.mem.write32(p.libc.malloc(100), 1);
    p.exit(0);
    expect(got).toEqual([
      "1 brk: brk=0x0 ret=0x555555559000",
      "1 vm_enough_memory: pages=1 ret=0 committed=34",
      // The vm_area_struct slab is frame 0x3fe (taken when spawn made the stack VMA); 0x3ff is the pgd.
      "1 kmem_cache_alloc: call_site=0x0 ptr=ffff8880003fe028 bytes_req=40 bytes_alloc=40 gfp_flags=GFP_KERNEL node=0 accounted=false",
      "1 brk: brk=0x5555555595e0 ret=0x5555555595e0",
      // kalloc pops the head of its free list: the highest frames first (kinit freed them bottom up).
      "1 mm_page_alloc: page=ffff888000020f40 pfn=0x3fd order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO",
      "1 mm_page_alloc: page=ffff888000020f00 pfn=0x3fc order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO",
      "1 mm_page_alloc: page=ffff888000020ec0 pfn=0x3fb order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO",
      "1 mm_page_alloc: page=ffff888000020e80 pfn=0x3fa order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO",
      "1 page_fault_user: address=0x555555559000 ip=0x0 error_code=0x6 outcome=demand_zero stack_growth=0 si_code=0",
      "1 sched_process_exit: comm=p pid=1 prio=120",
      // exit: the heap page, its VMA, the stack VMA, then the page tables and the pgd.
      "1 mm_page_free: page=ffff888000020e80 pfn=0x3fa order=0",
      "1 tlb_flush: pages:1 reason:local mm shootdown (3)",
      "1 vm_unacct_memory: pages=1 committed=33",
      "1 kmem_cache_free: call_site=0x0 ptr=ffff8880003fe028 name=vm_area_struct",
      "1 vm_unacct_memory: pages=33 committed=0",
      "1 kmem_cache_free: call_site=0x0 ptr=ffff8880003fe000 name=vm_area_struct",
      "1 mm_page_free: page=ffff888000020ec0 pfn=0x3fb order=0",
      "1 mm_page_free: page=ffff888000020f00 pfn=0x3fc order=0",
      "1 mm_page_free: page=ffff888000020f40 pfn=0x3fd order=0",
      "1 mm_page_free: page=ffff888000020fc0 pfn=0x3ff order=0",
      "1 tlb_flush: pages:-1 reason:local mm shootdown (3)",
    ]);
  });

  it("xv6 kalloc: an order-1 request (above its maxOrder 0) is an mm_page_alloc with pfn -1, as on the buddy allocator", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, layers: { frames: xv6Frames } });
    const got = events(m);
    expect(m.kernel.allocPages(1, 0x2000)).toBeNull();
    expect(got).toMatchObject([{ kind: "mm_page_alloc", pfn: -1, page: 0, order: 1, gfp_flags: 0x2000 }]);
  });
});

describe("event fields", () => {
  it("a user access to a kernel address is a page_fault_user ending in SIGSEGV/SEGV_MAPERR", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const p = m.spawn("p");
    const got = record(m, ["page_fault_user"]);
    expect(() => p.mem.read32(0x800000000000)).toThrow(/SIGSEGV/);
    expect(got).toEqual(["1 page_fault_user: address=0x800000000000 ip=0x0 error_code=0x4 outcome=sigsegv stack_growth=0 si_code=1"]);
  });

  it("every event carries the cost clock: with only faults costed (1 us each), two first touches read 1000 and 2000 ns", () => {
    const zero = { access: 0, tlbMiss: 0, fault: 1000, swapIn: 0, swapOut: 0, diskRead: 0, diskWrite: 0, ipi: 0, lockWait: 0 };
    const m = Machine.boot({ ramBytes: 4 << 20, clock: zero });
    const p = m.spawn("p");
    const va = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const faults: number[] = [];
    const seen: number[] = [];
    m.events.on("page_fault_user", (e) => {
      faults.push(e.clock_ns);
      seen.push(m.clock.now());
    });
    p.mem.write32(va, 1);
    p.mem.write32(va + PAGE, 2);
    p.mem.write32(va + 4, 3);
    // The spawn and mmap took no fault, so the clock was 0 before the first
    // touch; each touch is one fault (1000 ns); the third store hits.
    expect(faults).toEqual([1000, 2000]);
    expect(seen).toEqual(faults);
    expect(m.clock.now()).toBe(2000);
  });

  it("every event has the next sequence number, the logical clock, CPU 0 and its task", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const got = events(m);
    m.kernel.kfree(m.kernel.kmalloc(8));
    const p = m.spawn("worker");
    p.sys.brk(0);
    expect(got.map((e) => [e.seq, e.ts, e.cpu])).toEqual(got.map((_, i) => [i + 1, (i + 1) * 1000, 0]));
    expect(got[0]?.common_pid).toBe(0);
    expect(got[0]?.common_comm).toBe("swapper/0");
    expect(got.at(-1)).toMatchObject({ kind: "brk", common_pid: 1, common_comm: "worker" });
    expect(m.events.seq).toBe(got.length);
    expect(m.events.now()).toBe(got.length * 1000);
  });

  it("a listener added after the fast paths ran sees every kmalloc and kfree, and none once it leaves", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    for (let i = 0; i < 100; i++) m.kernel.kfree(m.kernel.kmalloc(64));
    let seen: string[] = [];
    const on = (e: { kind: string }) => seen.push(e.kind);
    m.events.on("kmalloc", on);
    m.events.on("kfree", on);
    for (let i = 0; i < 3; i++) m.kernel.kfree(m.kernel.kmalloc(64));
    expect(seen).toEqual(["kmalloc", "kfree", "kmalloc", "kfree", "kmalloc", "kfree"]);
    m.events.off("kmalloc", on);
    m.events.off("kfree", on);
    seen = [];
    for (let i = 0; i < 3; i++) m.kernel.kfree(m.kernel.kmalloc(64));
    expect(seen).toEqual([]);
    const c = m.kernel.slab.findCache("kmalloc-64")!;
    expect([c.name, c.allocFastpath + c.allocSlowpath, c.freeFastpath + c.freeSlowpath]).toEqual(["kmalloc-64", 106, 106]);
    m.check();
  });

  it("kmalloc and kfree carry Linux's fields: bytes_req, the cache's bytes_alloc, the caller", () => {
    const m = Machine.boot({ ramBytes: 8 << 20 });
    const got = record(m, ["kmalloc", "kfree"]);
    const a = m.kernel.kmalloc(100, undefined, "my_driver");
    const b = m.kernel.kmalloc(9000);
    m.kernel.kfree(a, "my_driver");
    m.kernel.kfree(b);
    m.kernel.kfree(0);
    const ptr = (v: number) => `ffff${v.toString(16).padStart(12, "0")}`;
    expect(got).toEqual([
      `0 kmalloc: call_site=my_driver ptr=${ptr(a)} bytes_req=100 bytes_alloc=128 gfp_flags=GFP_KERNEL node=0 accounted=false`,
      `0 kmalloc: call_site=0x0 ptr=${ptr(b)} bytes_req=9000 bytes_alloc=16384 gfp_flags=GFP_KERNEL node=0 accounted=false`,
      `0 kfree: call_site=my_driver ptr=${ptr(a)}`,
      `0 kfree: call_site=0x0 ptr=${ptr(b)}`,
      "0 kfree: call_site=0x0 ptr=0000000000000000",
    ]);
  });

  it("kmem_cache_alloc/free name the cache; kmalloc objects are not kmem_cache events", () => {
    const m = Machine.boot({ ramBytes: 8 << 20 });
    const cache = m.kernel.kmemCacheCreate("thing", 184);
    if (cache === null) throw new Error("no cache");
    const got: MemsimEvent[] = [];
    const slabKinds: EventKind[] = ["kmem_cache_alloc", "kmem_cache_free", "kmalloc", "kfree"];
    m.events.onAll((e) => {
      if (slabKinds.includes(e.kind)) got.push(e);
    });
    const obj = cache.alloc();
    cache.free(obj);
    m.kernel.kfree(m.kernel.kmalloc(64));
    expect(got.map((e) => e.kind)).toEqual(["kmem_cache_alloc", "kmem_cache_free", "kmalloc", "kfree"]);
    expect(got[0]).toMatchObject({ name: "thing", ptr: obj, bytes_req: 184, bytes_alloc: cache.size, gfp_flags: 0xcc0 });
    expect(got[1]).toMatchObject({ name: "thing", ptr: obj });
  });

  it("a failed page allocation is an mm_page_alloc with pfn -1 and page 0, as Linux traces a NULL page", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const got = events(m);
    expect(m.kernel.allocPages(11, 0x2000)).toBeNull();
    expect(got).toMatchObject([{ kind: "mm_page_alloc", pfn: -1, page: 0, order: 11, gfp_flags: 0x2000 }]);
  });

  it("freeing an order-1 block back through the lists merges it with its free buddy", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, pcpBatch: -1 });
    // The lone order-4 block boot leaves free has its buddy in use; the next one comes from a split.
    expect(m.kernel.allocPages(4)).toBe(48);
    const pfn = m.kernel.allocPages(4) as number;
    const got = events(m);
    m.kernel.freePages(pfn, 4);
    expect(got[0]).toMatchObject({ kind: "mm_page_free", pfn, order: 4 });
    const merges = got.filter((e) => e.kind === "mm_buddy_merge");
    expect(merges[0]).toMatchObject({ order: 4, pfn: pfn & ~16, buddy: (pfn & ~16) + 16 });
    expect(merges.map((e) => (e.kind === "mm_buddy_merge" ? e.order : -1))).toEqual(merges.map((_, i) => 4 + i));
  });

  it("syscalls report their arguments and raw result; tlb_flush reports pages, or -1 past the ceiling", () => {
    const m = Machine.boot({ ramBytes: 8 << 20 });
    const p = m.spawn("p");
    const got = record(m, ["mmap", "munmap", "mprotect", "madvise", "mremap", "tlb_flush"]);
    const va = p.sys.mmap(0, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    p.mem.fill(va, 1, 64 * PAGE);
    expect(p.sys.mprotect(va + 1, PAGE, PROT_READ)).toBe(-22);
    p.sys.mremap(va, 64 * PAGE, 32 * PAGE, 0);
    p.sys.madvise(va, 32 * PAGE, MADV_DONTNEED);
    p.sys.munmap(va, 32 * PAGE);
    const big = p.sys.mmap(0, 40 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    p.mem.fill(big, 1, 40 * PAGE);
    p.sys.munmap(big, 40 * PAGE);
    const x = (v: number) => `0x${v.toString(16)}`;
    expect(got).toEqual([
      `1 mmap: addr=0x0 len=0x40000 prot=0x3 flags=0x22 fd=-1 off=0x0 ret=${x(va)}`,
      `1 mprotect: start=${x(va + 1)} len=0x1000 prot=0x1 ret=-22`,
      // Events inside a syscall come before the syscall's own event (emitted at exit).
      "1 tlb_flush: pages:32 reason:local mm shootdown (3)",
      `1 mremap: addr=${x(va)} old_len=0x40000 new_len=0x20000 flags=0x0 new_addr=0x0 ret=${x(va)}`,
      "1 tlb_flush: pages:32 reason:local mm shootdown (3)",
      `1 madvise: start=${x(va)} len_in=0x20000 behavior=4 ret=0x0`,
      // Nothing was present any more: no flush.
      `1 munmap: addr=${x(va)} len=0x20000 ret=0x0`,
      `1 mmap: addr=0x0 len=0x28000 prot=0x3 flags=0x22 fd=-1 off=0x0 ret=${x(big)}`,
      // 40 pages is past the 33-page ceiling: the whole address space is flushed (TLB_FLUSH_ALL).
      "1 tlb_flush: pages:-1 reason:local mm shootdown (3)",
      `1 munmap: addr=${x(big)} len=0x28000 ret=0x0`,
    ]);
  });

  it("a commit charge refused under overcommit mode 2 is a vm_enough_memory with ret -12", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, overcommit: { mode: 2 } });
    const p = m.spawn("p");
    const got = events(m);
    expect(p.sys.mmap(0, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)).toBe(-12);
    expect(got.filter((e) => e.kind === "vm_enough_memory")).toMatchObject([{ pages: 16384, ret: -12 }]);
    expect(got.at(-1)).toMatchObject({ kind: "mmap", ret: -12 });
  });
});

describe("listeners", () => {
  it("registering then removing every listener leaves every flag clear and nothing delivered", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    let n = 0;
    const h = () => {
      n++;
    };
    const each = (_e: MemsimEvent) => h();
    for (const k of EVENT_KINDS) m.events.on(k, each as never);
    m.events.onAll(h);
    expect(m.events.active).toBe(true);
    for (const k of EVENT_KINDS) expect(m.events.off(k, each as never)).toBe(true);
    m.events.offAll(h);
    expect(m.events.active).toBe(false);
    expect([...m.kernel.events.active]).toEqual(EVENT_KINDS.map(() => 0));
    for (const k of EVENT_KINDS) expect(m.events.listeners(k)).toBe(0);
    const p = m.spawn("p");
    p.mem.write32(p.libc.malloc(64), 1);
    p.fork()?.exit(0);
    p.exit(0);
    expect(n).toBe(0);
    expect(m.events.seq).toBe(0);
  });

  it("off of a handler that never listened returns false; an unknown kind is a RangeError", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    expect(m.events.off("kmalloc", () => {})).toBe(false);
    expect(() => m.events.on("page_fault" as EventKind, () => {})).toThrow(RangeError);
    expect(() => m.events.on("kmalloc", 5 as unknown as () => void)).toThrow(TypeError);
  });

  it("one listener off leaves the others of its kind listening, in the order they were added", () => {
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const seen: string[] = [];
    const a = () => seen.push("a");
    const b = () => seen.push("b");
    m.events.on("kmalloc", a);
    m.events.on("kmalloc", b);
    m.kernel.kmalloc(8);
    m.events.off("kmalloc", a);
    m.kernel.kmalloc(8);
    expect(seen).toEqual(["a", "b", "b"]);
    expect(m.events.listeners("kmalloc")).toBe(1);
  });
});

describe("vmalloc and vfree events", () => {
  it("vmalloc comes after the page allocations it made, vfree after the frees; a failed or bad call says so", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, seed: 1 });
    const got = record(m, ["vmalloc", "vfree"]);
    const k = m.kernel;
    // 5000 bytes: two pages, at the start of the vmalloc range (0xffffc90000000000).
    const a = k.vmalloc(5000, "my_probe");
    k.vfree(a);
    // vzalloc names itself when the caller does not; a size past RAM fails with addr 0 and no pages.
    k.vfree(k.vzalloc(100));
    k.vmalloc(8 << 20);
    k.vfree(a); // freed already: Linux's warning, no event
    expect(got).toEqual([
      "0 vmalloc: call_site=my_probe addr=ffffc90000000000 size=5000 nr_pages=2 gfp_flags=GFP_KERNEL",
      "0 vfree: addr=ffffc90000000000 nr_pages=2",
      "0 vmalloc: call_site=vzalloc addr=ffffc90000000000 size=100 nr_pages=1 gfp_flags=GFP_KERNEL|__GFP_ZERO",
      "0 vfree: addr=ffffc90000000000 nr_pages=1",
      "0 vmalloc: call_site=0x0 addr=0000000000000000 size=8388608 nr_pages=0 gfp_flags=GFP_KERNEL",
    ]);
  });
});
