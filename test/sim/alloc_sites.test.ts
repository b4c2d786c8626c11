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
