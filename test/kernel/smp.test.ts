import { describe, expect, it } from "vitest";
import { ConfigError, EINVAL, ESRCH, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from "../../sim/index.ts";

const RW = PROT_READ | PROT_WRITE;
const anon = MAP_PRIVATE | MAP_ANONYMOUS;

/** A process with 4 mapped pages and one extra thread, on `cpus` CPUs. */
function twoThreads(cpus: number) {
  const m = Machine.boot({ ramBytes: 16 << 20, cpus });
  const p = m.spawn("app");
  const a = p.sys.mmap(0, 4 * 4096, RW, anon);
  const t = p.spawnThread("worker", { stackBytes: 16384 });
  if (t === null) throw new Error("no thread");
  return { m, p, a, t };
}

describe("CPUs and per-CPU TLBs", () => {
  it("one CPU by default: /proc/interrupts has one column and status no Cpus_allowed", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const p = m.spawn("app");
    expect(m.kernel.smp.nrCpus).toBe(1);
    expect(m.proc.interrupts()).toBe("           CPU0       \nTLB:          0   TLB shootdowns\n");
    expect(p.proc.status()).toMatch(/Threads:\t1\n$/);
    expect(m.clock.breakdown().map((r) => r.kind)).toEqual(["access", "tlbMiss", "fault", "swapIn", "swapOut", "diskRead", "diskWrite"]);
    expect(m.proc.vmstat()).not.toContain("nr_tlb_remote_flush");
  });

  it("rejects a CPU count outside 1..64", () => {
    expect(() => Machine.boot({ cpus: 0 })).toThrow(new ConfigError("Machine.boot: cpus must be an integer from 1 to 64, got 0"));
    expect(() => Machine.boot({ cpus: 65 })).toThrow(ConfigError);
    expect(() => Machine.boot({ cpus: 1.5 })).toThrow(ConfigError);
  });

  it("munmap on CPU 0 shoots down the page on CPU 1, whose next read faults instead of using the stale entry", () => {
    const { m, p, a, t } = twoThreads(2);
    const r = m.run(
      [
        { thread: p, ops: [() => p.mem.write32(a, 7), () => p.sys.munmap(a, 4096)] },
        { thread: t, ops: [() => p.mem.read32(a), () => p.mem.read32(a)] },
      ],
      { schedule: { kind: "explicit", steps: [0, 1, 0, 1] } },
    );
    expect(r.text()).toBe(
      "0 cpu0 tid 1 op 0.0 = undefined [0+0 -> 1302 ns]\n" +
        "1 cpu1 tid 2 op 1.0 = 7 [0+0 -> 201 ns]\n" +
        "2 cpu0 tid 1 op 0.1 = 0 [1302+0 -> 2402 ns]\n" +
        "3 cpu1 tid 2 op 1.1 = SIGSEGV [201+2201 -> 3603 ns]\n",
    );
    expect(m.proc.interrupts()).toBe("           CPU0       CPU1       \nTLB:          0          1   TLB shootdowns\n");
    // Summed over CPUs: CPU 1's flush of the IPI is a local flush of its own; its ASID flush came when the process died.
    expect(m.proc.vmstat()).toContain("nr_tlb_local_flush_all 2\nnr_tlb_local_flush_one 2\ntlb_hit 0\ntlb_miss 4\npgtable_walk 4\n");
    expect(m.proc.vmstat()).toContain("nr_tlb_remote_flush 1\nnr_tlb_remote_flush_received 1\n");
    expect(m.clock.breakdown().find((k) => k.kind === "ipi")).toEqual({ kind: "ipi", count: 1, costNs: 1000, ns: 1000 });
    expect(p.describe()).toBe("killed by SIGSEGV");
    m.check();
  });

  it("a CPU that never ran the address space gets no IPI", () => {
    const { m, p, a, t } = twoThreads(3);
    p.schedSetaffinity(t.tid, [1]);
    m.run([
      { thread: p, ops: [() => p.mem.write32(a, 1), () => p.sys.munmap(a, 4096)] },
      { thread: t, ops: [() => p.mem.read32(a + 4096)] },
    ]);
    expect(m.proc.interrupts()).toBe(
      "           CPU0       CPU1       CPU2       \nTLB:          0          1          0   TLB shootdowns\n",
    );
    expect(m.kernel.smp.shootdown.cpumask(p.mm.pt.asid)).toEqual([0, 1]);
  });

  it("a child forked on CPU 1 and touched there is in its cpumask: its munmap from CPU 0 shoots CPU 1 down", () => {
    const { m, p, a, t } = twoThreads(2);
    p.mem.write32(a, 5);
    p.schedSetaffinity(t.tid, [1]);
    const child: Array<ReturnType<typeof p.fork>> = [];
    m.run([
      {
        thread: t,
        ops: [
          () => {
            const c = p.fork();
            child.push(c);
            return c?.mem.read32(a);
          },
        ],
      },
    ]);
    const c = child[0];
    if (!c) throw new Error("no child");
    expect(m.kernel.smp.shootdown.cpumask(c.mm.pt.asid)).toEqual([0, 1]);
    const before = m.kernel.smp.tlbIpis(1);
    expect(c.sys.munmap(a, 4096)).toBe(0);
    expect(m.kernel.smp.tlbIpis(1) - before).toBe(1);
    m.check();
  });

  it("each CPU caches translations in its own TLB, and events carry the CPU", () => {
    const { m, p, a, t } = twoThreads(2);
    const cpus: number[] = [];
    m.events.on("page_fault_user", (e) => cpus.push(e.cpu));
    p.schedSetaffinity(0, [0]);
    p.schedSetaffinity(t.tid, [1]);
    m.run([
      { thread: p, ops: [() => p.mem.write32(a, 1)] },
      { thread: t, ops: [() => p.mem.write32(a + 4096, 2), () => p.mem.read32(a)] },
    ]);
    expect(cpus).toEqual([0, 1]);
    const [t0, t1] = m.kernel.smp.tlbs;
    expect([t0?.stats.misses, t1?.stats.misses]).toEqual([2, 3]);
    expect(m.kernel.smp.current).toBe(0);
    expect(p.mem.read32(a + 4096)).toBe(2);
    m.check();
  });
});

describe("the scheduler", () => {
  const programs = (p: ReturnType<typeof twoThreads>["p"], t: ReturnType<typeof twoThreads>["t"], a: number) => [
    { thread: p, ops: [0, 1, 2].map((k) => () => p.mem.write32(a + k * 4096, k)) },
    { thread: t, ops: [0, 1, 2].map((k) => () => p.mem.read32(a + k * 4096)) },
  ];

  it("round-robin: each CPU in turn runs the head of its queue", () => {
    const { m, p, a, t } = twoThreads(2);
    const r = m.run(programs(p, t, a));
    expect(r.steps.map((s) => `${s.cpu}:${s.program}.${s.op}=${s.result}`)).toEqual([
      "0:0.0=undefined",
      "1:1.0=0",
      "0:0.1=undefined",
      "1:1.1=1",
      "0:0.2=undefined",
      "1:1.2=2",
    ]);
  });

  it("the same seed gives the same interleaving and the same bytes; another seed another", () => {
    const story = (seed: number) => {
      const { m, p, a, t } = twoThreads(4);
      const r = m.run(programs(p, t, a), { schedule: { kind: "random", seed, migrate: 0.5 } });
      return r.text() + m.proc.interrupts() + m.proc.lockStat() + p.proc.maps() + JSON.stringify(m.stats());
    };
    expect(story(3)).toBe(story(3));
    expect(story(3)).not.toBe(story(4));
  });

  it("an explicit schedule may migrate a thread to a CPU it is allowed on", () => {
    const { m, p, a, t } = twoThreads(2);
    const r = m.run(programs(p, t, a), { schedule: { kind: "explicit", steps: [1, [1, 0], 0] } });
    expect(r.steps.slice(0, 3).map((s) => `${s.cpu}:${s.program}.${s.op}`)).toEqual(["1:1.0", "0:1.1", "0:0.0"]);
    p.schedSetaffinity(t.tid, [1]);
    expect(() => m.run(programs(p, t, a), { schedule: { kind: "explicit", steps: [[1, 0]] } })).toThrow(
      new RangeError(`run: thread ${t.tid} may not run on CPU 0`),
    );
  });

  it("sched_setaffinity pins a thread; status shows Cpus_allowed; bad masks and tids are refused", () => {
    const { m, p, a, t } = twoThreads(4);
    expect(p.schedSetaffinity(t.tid, [2, 3])).toBe(0);
    const r = m.run(programs(p, t, a), { schedule: { kind: "random", seed: 9, migrate: 1 } });
    for (const s of r.steps) if (s.program === 1) expect([2, 3]).toContain(s.cpu);
    expect(p.proc.status(t.tid)).toContain("Name:\tworker\n");
    expect(p.proc.status(t.tid)).toContain(`Pid:\t${t.tid}\n`);
    expect(p.proc.status(t.tid)).toContain("Cpus_allowed:\tc\nCpus_allowed_list:\t2-3\n");
    expect(p.proc.status()).toContain("Threads:\t2\nCpus_allowed:\tf\nCpus_allowed_list:\t0-3\n");
    expect(p.schedSetaffinity(t.tid, [])).toBe(-EINVAL);
    expect(p.schedSetaffinity(t.tid, [7])).toBe(-EINVAL);
    expect(p.schedSetaffinity(999, [0])).toBe(-ESRCH);
  });

  it("Cpus_allowed on 40 CPUs is two 32-bit groups", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, cpus: 40 });
    const p = m.spawn("app");
    expect(p.proc.status()).toContain("Cpus_allowed:\tff,ffffffff\nCpus_allowed_list:\t0-39\n");
    p.schedSetaffinity(0, [0, 2, 3, 35]);
    expect(p.proc.status()).toContain("Cpus_allowed:\t08,0000000d\nCpus_allowed_list:\t0,2-3,35\n");
  });
});
