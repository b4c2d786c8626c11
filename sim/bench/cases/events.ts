/**
 * Event-stream benchmarks (issue 14): the page-allocator and kmalloc fast
 * paths with listeners, beside the same paths with none in page_alloc.ts
 * and slab.ts. "listener removed" is the path after every listener left:
 * it must match the no-listener case; "listening" shows what a listener costs.
 * The xv6 cases do the same on a lab's frames layer (FramePages around xv6's kalloc).
 */

import { xv6Frames } from "../../../kernel/labs/kalloc.ts";
import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

let seen = 0;

/** What the listening cases saw (keeps the listeners' work observable). */
export function eventsSink(): number {
  return seen;
}

function count(): void {
  seen++;
}

function buddyPair(name: string, listen: "on" | "removed"): BenchCase {
  return {
    name: `events: buddy order-0 alloc/free pair, ${name}`,
    ops: 2_000_000,
    baseline: "int32-stack push/pop",
    setup() {
      const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
      m.events.on("mm_page_alloc", count);
      m.events.on("mm_page_free", count);
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

function kmallocPair(name: string, listen: "on" | "removed"): BenchCase {
  return {
    name: `events: kmalloc(64)/kfree pair, ${name}`,
    ops: 2_000_000,
    baseline: "int32-stack push/pop",
    setup() {
      const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
      m.events.on("kmalloc", count);
      m.events.on("kfree", count);
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

export const EVENT_CASES: readonly BenchCase[] = [
  buddyPair("listener removed", "removed"),
  buddyPair("listening", "on"),
  kmallocPair("listener removed", "removed"),
  kmallocPair("listening", "on"),
  xv6Pair("no listener", "none"),
  xv6Pair("listener removed", "removed"),
  xv6Pair("listening", "on"),
];
