/**
 * Allocation-site benchmarks (issue 18): the kmalloc(64)/kfree pair, the
 * vmalloc(4096)/vfree pair and a user malloc(64)/free pair through the C
 * library, each four ways: "never
 * enabled" (a machine that never tracked), "enabled then disabled" (must
 * equal it within noise: the kernel side is event listeners, gone once
 * disabled, and the user side one flag test in the malloc watch), "N=1"
 * (every allocation recorded with its stack frame) and "N=64KiB" (one
 * sample per 64 KiB on average). Each case runs in its own process.
 */
import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

/** How a case tracks sites. */
type Track = "never" | "disabled" | "all" | "sampled";

const HOW: Record<Track, string> = {
  never: "never enabled",
  disabled: "enabled then disabled",
  all: "tracking N=1",
  sampled: "tracking N=64KiB",
};

function boot(track: Track): Machine {
  const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
  if (track === "never") return m;
  m.allocSites.enable({ sampleBytes: track === "sampled" ? 65536 : 1 });
  if (track === "disabled") m.allocSites.disable();
  return m;
}

function kmallocPair(track: Track): BenchCase {
  return {
    name: `sites: kmalloc(64)/kfree pair, ${HOW[track]}`,
    ops: track === "all" ? 200_000 : 2_000_000,
    baseline: "int32-stack push/pop",
    setup() {
      const k = boot(track).kernel;
      k.kfree(k.kmalloc(64, GFP_KERNEL));
      return (ops) => {
        for (let i = 0; i < ops; i++) k.kfree(k.kmalloc(64, GFP_KERNEL));
      };
    },
  };
}

function vmallocPair(track: Track): BenchCase {
  return {
    name: `sites: vmalloc(4096)/vfree pair, ${HOW[track]}`,
    ops: track === "all" ? 50_000 : 200_000,
    baseline: "int32-stack push/pop",
    setup() {
      const k = boot(track).kernel;
      k.vfree(k.vmalloc(4096));
      return (ops) => {
        for (let i = 0; i < ops; i++) k.vfree(k.vmalloc(4096));
      };
    },
  };
}

function mallocPair(track: Track): BenchCase {
  return {
    name: `sites: libc malloc(64)/free pair, ${HOW[track]}`,
    ops: track === "all" ? 100_000 : 1_000_000,
    baseline: "int32-stack push/pop",
    setup() {
      const libc = boot(track).spawn("bench").libc;
      libc.free(libc.malloc(64));
      return (ops) => {
        for (let i = 0; i < ops; i++) libc.free(libc.malloc(64));
      };
    },
  };
}

const TRACKS: readonly Track[] = ["never", "disabled", "all", "sampled"];

export const ALLOC_SITES_CASES: readonly BenchCase[] = [...TRACKS.map(kmallocPair), ...TRACKS.map(vmallocPair), ...TRACKS.map(mallocPair)];
