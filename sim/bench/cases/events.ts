/**
 * Event-stream benchmarks (issue 14): the page-allocator pair, the kmalloc
 * pair and a user read32 through the TLB, each on the same configuration
 * three ways: "no listener" (nobody ever listened), "listener removed"
 * (listeners added, then all removed: must equal "no listener" within
 * noise, as the stream costs one flag test per emit point) and "listening"
 * (what a listener costs). Each case runs in its own process, so one
 * case's listeners cannot change another's JIT state.
 * The xv6 cases do the same on a lab's frames layer (FramePages around xv6's kalloc).
 */

import { xv6Frames } from "../../../kernel/labs/kalloc.ts";
import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

/** How a case treats the event stream. */
type Listen = "none" | "removed" | "on";

let seen = 0;

/** What the listening cases saw (keeps the listeners' work observable). */
export function eventsSink(): number {
  return seen + loaded;
}

function count(): void {
  seen++;
}

function buddyPair(name: string, listen: Listen): BenchCase {
  return {
    name: `events: buddy order-0 alloc/free pair, ${name}`,
    ops: 2_000_000,
    baseline: "int32-stack push/pop",
    setup() {
      const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
      if (listen !== "none") m.events.on("mm_page_alloc", count);
      if (listen !== "none") m.events.on("mm_page_free", count);
      if (listen === "removed") {
        m.events.off("mm_page_alloc", count);
        m.events.off("mm_page_free", count);
      }
      const k = m.kernel.pages;
      return (ops) => {
        for (let i = 0; i < ops; i++) k.freePages(k.allocPages(0, 0xcc0), 0);
      };
    },
  };
}

function xv6Pair(name: string, listen: "none" | "on" | "removed"): BenchCase {
  return {
    name: `events: xv6 frames alloc/free pair, ${name}`,
    ops: 2_000_000,
    baseline: "int32-stack push/pop",
    setup() {
      const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0, layers: { frames: xv6Frames } });
      if (listen !== "none") {
        m.events.on("mm_page_alloc", count);
        m.events.on("mm_page_free", count);
      }
      if (listen === "removed") {
        m.events.off("mm_page_alloc", count);
        m.events.off("mm_page_free", count);
      }
      const k = m.kernel.pages;
      return (ops) => {
        for (let i = 0; i < ops; i++) k.freePages(k.allocPages(0, 0xcc0), 0);
      };
    },
  };
}

function kmallocPair(name: string, listen: Listen): BenchCase {
  return {
    name: `events: kmalloc(64)/kfree pair, ${name}`,
    ops: 2_000_000,
    baseline: "int32-stack push/pop",
    setup() {
      const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
      if (listen !== "none") m.events.on("kmalloc", count);
      if (listen !== "none") m.events.on("kfree", count);
      if (listen === "removed") {
        m.events.off("kmalloc", count);
        m.events.off("kfree", count);
      }
      const k = m.kernel;
      k.kfree(k.kmalloc(64, GFP_KERNEL));
      return (ops) => {
        for (let i = 0; i < ops; i++) k.kfree(k.kmalloc(64, GFP_KERNEL));
      };
    },
  };
}

let loaded = 0;

/**
 * p.mem.read32 on one touched page, every access a TLB hit, with listeners
 * of the memory events a user access could emit (page_fault_user, tlb_flush)
 * removed or never added. (Nothing is emitted on a hit: "listening" would
 * measure the same path, so there is none.)
 */
function userRead(name: string, listen: Exclude<Listen, "on">): BenchCase {
  return {
    name: `events: user read32 through the TLB, ${name}`,
    ops: 10_000_000,
    baseline: "uint32 load",
    setup() {
      const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
      if (listen === "removed") {
        m.events.on("page_fault_user", count);
        m.events.on("tlb_flush", count);
        m.events.off("page_fault_user", count);
        m.events.off("tlb_flush", count);
      }
      const p = m.spawn("bench");
      const va = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      const mem = p.mem;
      mem.write32(va, 1);
      return (ops) => {
        let x = 0;
        for (let i = 0; i < ops; i++) x ^= mem.read32(va + ((i * 28) & 4092));
        loaded ^= x;
      };
    },
  };
}

export const EVENT_CASES: readonly BenchCase[] = [
  buddyPair("no listener", "none"),
  buddyPair("listener removed", "removed"),
  buddyPair("listening", "on"),
  kmallocPair("no listener", "none"),
  kmallocPair("listener removed", "removed"),
  kmallocPair("listening", "on"),
  xv6Pair("no listener", "none"),
  xv6Pair("listener removed", "removed"),
  xv6Pair("listening", "on"),
  userRead("no listener", "none"),
  userRead("listener removed", "removed"),
];
