/**
 * Allocation sites (sim/alloc_sites.ts): call sites from the stack or a
 * label, seeded geometric sampling, and the report formats (LeakSanitizer
 * at exit, heaptrack's summary, page_owner, kmemleak), the formats checked
 * against golden files. Sites name this file's lines: moving the calls
 * below changes the golden text (UPDATE_GOLDEN=1 rewrites it).
 */
import { describe, expect, it } from "vitest";
import { ConfigError, Machine } from "../../sim/index.ts";
import { expectGolden } from "./cli/helpers.ts";

function write64(m: Machine, pid: number, va: number, v: number): void {
  const p = m.processes().find((x) => x.pid === pid)!;
  p.mem.write32(va, v % 2 ** 32);
  p.mem.write32(va + 4, Math.floor(v / 2 ** 32));
}

/** A list head pointing to a node: the head leaks directly, the node indirectly. */
function makeList(m: Machine, pid: number): number {
  const p = m.processes().find((x) => x.pid === pid)!;
  const head = p.libc.malloc(32);
  const node = p.libc.malloc(24);
  write64(m, pid, head, node);
  return head;
}

describe("LeakSanitizer at exit", () => {
  it("reports direct and indirect leaks by site, largest first, then the summary", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { sampleBytes: 1, scope: "user" } });
    const got: string[] = [];
    m.allocSites.onLeakReport = (r) => got.push(`${r.comm} ${r.pid}\n${r.text}`);
    const p = m.spawn("leaky");
    makeList(m, p.pid);
    makeList(m, p.pid);
    p.libc.free(p.libc.malloc(100)); // freed: not a leak
    p.exit(0);
    expect(got.length).toBe(1);
    expect(got[0]).toContain("Direct leak of 64 byte(s) in 2 object(s) allocated from:");
    expect(got[0]).toContain("Indirect leak of 48 byte(s) in 2 object(s) allocated from:");
    expect(got[0]).toContain("SUMMARY: AddressSanitizer: 112 byte(s) leaked in 4 allocation(s).");
    expectGolden("sites/lsan.txt", got[0] as string);
    expect(m.allocSites.leakReports.map((r) => r.pid)).toEqual([p.pid]);
  });

  it("a process that frees everything has no report", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { scope: "user" } });
    const p = m.spawn("tidy");
    p.libc.free(p.libc.malloc(10));
    p.exit(0);
    expect(m.allocSites.leakReports).toEqual([]);
  });
});

describe("heaptrack summary", () => {
  it("ranks sites by calls, bytes, peak and leaks", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { sampleBytes: 1, scope: "user" } });
    const p = m.spawn("app");
    for (let i = 0; i < 3; i++) p.libc.free(p.libc.malloc(1000));
    const kept = p.libc.malloc(5000);
    expect(kept).not.toBe(0);
    p.exit(0);
    const text = m.allocSites.report(5);
    expect(text).toContain("3 calls to allocation functions with 1000B peak consumption from");
    expect(text).toContain("4.88KB leaked over 1 calls from");
    expect(text).toContain("calls to allocation functions: 4\npeak heap memory consumption: 4.88KB\ntotal memory leaked: 4.88KB\n");
    expectGolden("sites/heaptrack.txt", text);
  });
});

describe("sampling", () => {
  function sampled(seed: number, sampleBytes: number): number {
    const m = Machine.boot({ ramBytes: 16 << 20, seed, allocSites: { sampleBytes, scope: "user" } });
    const p = m.spawn("s");
    for (let i = 0; i < 1000; i++) p.libc.malloc(64);
    return m.allocSites.sites.reduce((a, s) => a + s.calls, 0);
  }

  it("N = 1 records every allocation", () => {
    expect(sampled(1, 1)).toBe(1000);
  });

  it("one sample per N bytes on average, the same samples for the same seed", () => {
    const a = sampled(1, 4096);
    expect(a).toBe(sampled(1, 4096));
    // 64000 bytes at one sample per 4096: 15.6 expected
    expect(a).toBeGreaterThanOrEqual(8);
    expect(a).toBeLessThanOrEqual(26);
    const seeds = [2, 3, 4, 5].map((s) => sampled(s, 4096));
    expect(new Set([a, ...seeds]).size).toBeGreaterThan(1);
  });

  it("disable stops recording; nothing is counted while off", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: {} });
    const p = m.spawn("x");
    p.libc.malloc(10);
    m.kernel.kmalloc(10, 0, "probe");
    m.allocSites.disable();
    p.libc.malloc(10);
    m.kernel.kmalloc(10, 0, "probe");
    expect(m.allocSites.sites.find((s) => s.fn === "malloc")?.calls).toBe(1);
    expect(m.allocSites.sites.find((s) => s.site === "probe")?.calls).toBe(1);
  });

  it("bad options are refused by name", () => {
    expect(() => Machine.boot({ allocSites: { sampleBytes: 0 } })).toThrow(ConfigError);
    expect(() => Machine.boot({ allocSites: { sampleBytes: 0 } })).toThrow("allocSites.sampleBytes");
    const m = Machine.boot({ ramBytes: 4 << 20 });
    expect(() => m.allocSites.enable({ sampleBytes: 1.5 })).toThrow(RangeError);
  });
});

describe("kernel: labels, page_owner and kmemleak", () => {
  it("kmalloc's caller label is the site; a stack frame otherwise", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { scope: "kernel" } });
    m.kernel.kmalloc(100, 0, "my_driver_init");
    m.kernel.kmalloc(100, 0);
    const km = m.allocSites.sites.filter((s) => s.fn === "kmalloc").map((s) => s.site);
    expect(km[0]).toBe("my_driver_init");
    expect(km[1]).toMatch(/^.* \(test\/sim\/alloc_sites\.test\.ts:\d+\)$/);
  });

  it("page_owner lists the blocks allocated while tracking, until they are freed", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { scope: "kernel" } });
    // The first Unmovable request claims the order-10 Movable block at 0xc00 (page blocks 6 and 7) and splits it.
    const pfn = m.kernel.allocPages(2, 0xcc0)!;
    expect(pfn).toBe(0xc00);
    const text = m.proc.pageOwner();
    const mine = text.split("\n\n").find((r) => r.includes(`PFN 0x${pfn.toString(16)} `))!;
    expect(mine.split("\n")[0]).toMatch(/^Page allocated via order 2, mask 0xcc0\(GFP_KERNEL\), pid 0, tgid 0 \(swapper\/0\), ts \d+ ns$/);
    expect(mine).toContain(`PFN 0x${pfn.toString(16)} type Unmovable Block 6 type Unmovable Flags 0x`);
    m.kernel.freePages(pfn, 2);
    expect(m.proc.pageOwner()).not.toContain(`PFN 0x${pfn.toString(16)} `);
    expectGolden("sites/page_owner.txt", mine);
  });

  it("kmemleak reports the object nothing points to, not the one it points to", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { scope: "kernel" } });
    const k = m.kernel;
    const a = k.kmalloc(100, 0, "leaky_probe")!;
    const b = k.kmalloc(64, 0, "held_by_a")!;
    k.mem.write32(a, b % 2 ** 32);
    k.mem.write32(a + 4, Math.floor(b / 2 ** 32));
    const text = m.proc.kmemleak();
    expect(text).toContain("backtrace:\n    leaky_probe\n");
    expect(text).not.toContain("held_by_a");
    const mine = text.split("unreferenced object ").find((r) => r.includes("leaky_probe"))!;
    expectGolden("sites/kmemleak.txt", `unreferenced object ${mine}`);
    k.kfree(a);
    expect(m.proc.kmemleak()).toContain("held_by_a");
  });
});

describe("vmalloc sites", () => {
  it("vmalloc and vfree are counted per site (the caller's label, else its stack frame) and in heaptrack's summary", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { scope: "kernel" } });
    const k = m.kernel;
    const a = k.vmalloc(10_000, "my_vmalloc_user");
    const b = k.vmalloc(5000);
    k.vfree(b);
    const vm = m.allocSites.sites.filter((s) => s.fn === "vmalloc");
    // The asked sizes, not the 3 and 2 pages mapped; the freed area is live no more, its peak stays.
    expect(
      vm.map(({ site, calls, bytes, liveCount, liveBytes, peakBytes }) => ({ site, calls, bytes, liveCount, liveBytes, peakBytes })),
    ).toEqual([
      { site: "my_vmalloc_user", calls: 1, bytes: 10_000, liveCount: 1, liveBytes: 10_000, peakBytes: 10_000 },
      {
        site: expect.stringMatching(/^.* \(test\/sim\/alloc_sites\.test\.ts:\d+\)$/),
        calls: 1,
        bytes: 5000,
        liveCount: 0,
        liveBytes: 0,
        peakBytes: 5000,
      },
    ]);
    // 10,000 B = 9.77 KB (heaptrack's 1024-based units).
    expect(m.allocSites.report()).toContain("1 calls to allocation functions with 9.77KB peak consumption from\nmy_vmalloc_user\n");
    expect([...m.allocSites.kernelLive.keys()]).toContain(a);
    expect([...m.allocSites.kernelLive.keys()]).not.toContain(b);
  });

  it("N = 1 records every vmalloc, and tracking off records none", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.kernel.vfree(m.kernel.vmalloc(4096, "before_tracking"));
    m.allocSites.enable({ scope: "kernel", sampleBytes: 1 });
    for (let i = 0; i < 5; i++) m.kernel.vfree(m.kernel.vmalloc(100 + i, "tracked"));
    m.allocSites.disable();
    m.kernel.vfree(m.kernel.vmalloc(4096, "after_tracking"));
    const vm = m.allocSites.sites.filter((s) => s.fn === "vmalloc");
    // 100 + 101 + 102 + 103 + 104 = 510 bytes over 5 calls.
    expect(vm.map((s) => [s.site, s.calls, s.bytes, s.liveCount])).toEqual([["tracked", 5, 510, 0]]);
  });

  it("kmemleak reports a vmalloc area nothing points to (its own pages do not count), not one a kmalloc object points to", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, allocSites: { scope: "kernel" } });
    const k = m.kernel;
    const lost = k.vmalloc(8192, "lost_area");
    const held = k.vmalloc(4096, "held_area");
    const holder = k.kmalloc(64, 0, "area_holder")!;
    k.mem.write32(holder, held % 2 ** 32);
    k.mem.write32(holder + 4, Math.floor(held / 2 ** 32));
    // The lost area points to itself: a self-reference keeps nothing alive.
    k.mem.write32(lost, lost % 2 ** 32);
    k.mem.write32(lost + 4, Math.floor(lost / 2 ** 32));
    const text = m.proc.kmemleak();
    expect(text).toContain("backtrace:\n    lost_area\n");
    expect(text).not.toContain("held_area");
    const mine = `unreferenced object ${text.split("unreferenced object ").find((r) => r.includes("lost_area"))!}`;
    // The area's address in canonical form, its asked size, and its first bytes (read through its frames): its own address, little-endian.
    expect(mine.split("\n")[0]).toBe(`unreferenced object 0xffff${lost.toString(16)} (size 8192):`);
    const le = Array.from({ length: 8 }, (_, i) => (Math.floor(lost / 2 ** (8 * i)) % 256).toString(16).padStart(2, "0")).join(" ");
    expect(mine).toContain(`hex dump (first 32 bytes):\n    ${le} 00 00 00 00 00 00 00 00`);
    k.kfree(holder);
    expect(m.proc.kmemleak()).toContain("held_area");
  });
});
