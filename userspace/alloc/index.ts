/**
 * The registry of userspace allocators: a name ("bestfit", "buddy" ...) to a
 * factory that builds the allocator inside a process. Traces, tests,
 * benchmarks and the CLI pick allocators by these names.
 */
import type { UserProcess } from "../env.ts";
import { createMalloc } from "../malloc/index.ts";
import { M_ARENA_MAX } from "../malloc/malloc.ts";
import type { Allocator } from "./allocator.ts";
import { createArena } from "./arena.ts";
import { createBuddy } from "./buddy.ts";
import { createEbr } from "./ebr.ts";
import { createFreeList, type FitPolicy, freeListName, type ListOrder } from "./freelist.ts";
import { createHoard } from "./hoard.ts";
import { createLocked } from "./locked.ts";
import { createMesh } from "./mesh.ts";
import { createPool } from "./pool.ts";
import { createSegregated } from "./segregated.ts";

export type { Allocator, AllocatorStats } from "./allocator.ts";
export { HeapCorruption } from "./allocator.ts";

/** Builds an allocator in `proc`. */
export type AllocatorFactory = (proc: UserProcess) => Allocator;

/** One registered allocator. */
export interface AllocatorEntry {
  readonly name: string;
  /** One line for `--help` and reports. */
  readonly summary: string;
  readonly create: AllocatorFactory;
}

const entries: AllocatorEntry[] = [
  // The default malloc (userspace/malloc): the C library's malloc inside the process.
  {
    name: "malloc",
    summary: "the default malloc (userspace/malloc): bins, boundary tags, top chunk, mmap above a threshold",
    create: (p) => createMalloc(p),
  },
  { name: "arena", summary: "bump pointer, free pops only the newest block, reset/checkpoints", create: (p) => createArena(p) },
  { name: "pool", summary: "64-byte blocks on a free stack; larger requests mmapped", create: (p) => createPool(p) },
];

const FITS: FitPolicy[] = ["first", "next", "best", "worst"];
for (const coalesce of ["immediate", "never"] as const) {
  for (const order of ["address", "lifo"] as ListOrder[]) {
    for (const fit of FITS) {
      const how = `${fit} fit, ${order === "lifo" ? "LIFO" : "address-ordered"} list, ${coalesce === "never" ? "no coalescing" : "immediate coalescing"}`;
      entries.push({ name: freeListName(fit, order, coalesce), summary: how, create: (p) => createFreeList(p, { fit, order, coalesce }) });
    }
  }
}

entries.push(
  { name: "segregated", summary: "segregated fit: 128 size classes, LIFO lists, immediate coalescing", create: (p) => createSegregated(p) },
  { name: "buddy", summary: "binary buddy, 16 B to 512 KiB blocks in 1 MiB top blocks, headerless", create: (p) => createBuddy(p) },
  {
    name: "hoard",
    summary: "Hoard: per-CPU heaps over a global heap, 64 KiB superblocks in fullness groups, the emptiness invariant",
    create: (p) => createHoard(p),
  },
  {
    name: "locked-firstfit",
    summary: "a single-lock free list: address-ordered first fit with coalescing behind one mutex every call holds",
    create: (p) => createLocked("locked-firstfit", createFreeList(p, { fit: "first", order: "address", coalesce: "immediate" })),
  },
  {
    name: "locked-malloc",
    summary: "the default malloc behind one mutex, as glibc's single arena and its lock",
    create: (p) => {
      const inner = createMalloc(p);
      inner.libc.mallopt(M_ARENA_MAX, 1);
      return createLocked("locked-malloc", inner);
    },
  },
  {
    name: "mesh",
    summary: "Mesh: one-page spans of a shared object, random offsets, meshing of disjoint spans every 256 frees",
    create: (p) => createMesh(p, {}, "mesh"),
  },
  {
    name: "mesh-nomesh",
    summary: "the Mesh allocator with meshing off (the baseline of its RSS figures)",
    create: (p) => createMesh(p, { meshPeriod: 0 }, "mesh-nomesh"),
  },
  {
    name: "ebr",
    summary: "epoch-based reclamation over segregated: retire() frees once no reader can hold the block",
    create: (p) => createEbr(createSegregated(p)),
  },
);

const byName = new Map(entries.map((e) => [e.name, e]));

/**
 * The teaching allocators a comparison runs by default: one of each kind
 * (the free-list variants beyond the four fits are reachable by name).
 */
export const TEACHING_ALLOCATORS: readonly string[] = [
  "arena",
  "pool",
  "firstfit",
  "nextfit",
  "bestfit",
  "worstfit",
  "segregated",
  "buddy",
  "hoard",
];

/** Every registered name, in registration order. */
export function allocatorNames(): string[] {
  return entries.map((e) => e.name);
}

/** The entry for `name`, or undefined. */
export function findAllocator(name: string): AllocatorEntry | undefined {
  return byName.get(name);
}

/** Builds allocator `name` in `proc`. Throws RangeError listing the known names when `name` is unknown. */
export function createAllocator(name: string, proc: UserProcess): Allocator {
  const e = byName.get(name);
  if (!e) throw new RangeError(`unknown allocator '${name}' (known: ${allocatorNames().join(", ")})`);
  return e.create(proc);
}

/** Adds an allocator (the default malloc registers itself this way). Throws when the name is taken. */
export function registerAllocator(entry: AllocatorEntry): void {
  if (byName.has(entry.name)) throw new RangeError(`allocator '${entry.name}' is already registered`);
  entries.push(entry);
  byName.set(entry.name, entry);
}

export { createArena, createBuddy, createEbr, createFreeList, createHoard, createMesh, createPool, createSegregated };
