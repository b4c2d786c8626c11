/**
 * kmalloc sizes: which kmalloc cache serves a request, what ksize() reports
 * and how many bytes are lost to rounding; requests above the largest cache
 * go to the page allocator. The answers come from memsim itself: a small
 * machine is booted and asked (kmalloc, ksize, the owner of the page);
 * kmallocPlace() states the same rule as a model, and a test holds the two
 * together.
 */
import type { Prandom } from "../../../kernel/lib/random.ts";
import { Machine } from "../../machine.ts";
import { between, type Exercise, type OnBoot, pick, type Topic } from "./exercise.ts";

/** Linux's kmalloc caches on x86-64 (KMALLOC_MIN_SIZE 8, with the 96 and 192 byte caches). */
export const KMALLOC_SIZES = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192] as const;
/** KMALLOC_MAX_CACHE_SIZE: two pages; larger requests take pages directly. */
export const KMALLOC_MAX_CACHE_SIZE = 8192;

/** Where a kmalloc(size) goes: a cache and its object size, the page allocator, or ZERO_SIZE_PTR. */
export type KmallocPlace =
  | { kind: "zero" }
  | { kind: "cache"; name: string; ksize: number }
  | { kind: "pages"; order: number; ksize: number };

/** kmalloc_index() in effect: the smallest cache whose objects hold `size` bytes. */
export function kmallocPlace(size: number): KmallocPlace {
  if (size === 0) return { kind: "zero" };
  if (size > KMALLOC_MAX_CACHE_SIZE) {
    let order = 0;
    while (4096 << order < size) order++;
    return { kind: "pages", order, ksize: 4096 << order };
  }
  const obj = KMALLOC_SIZES.find((s) => s >= size) as number;
  return { kind: "cache", name: `kmalloc-${obj >= 1024 ? `${obj / 1024}k` : obj}`, ksize: obj };
}

/** Where kmalloc(size) lands in a memsim kernel: kmalloc it, read ksize and the page's owner, kfree it. */
export function kmallocOnMemsim(m: Machine, size: number): KmallocPlace {
  const k = m.kernel;
  const kva = k.kmalloc(size);
  if (kva === 16) return { kind: "zero" };
  if (kva === 0) throw new Error(`quiz: kmalloc(${size}) failed on the quiz machine`);
  const ksize = k.ksize(kva);
  const head = k.memmap.compoundHead(k.kvaToPfn(kva));
  const cache = k.slab.cacheById(k.memmap.ownerBits(head));
  k.kfree(kva);
  if (cache) return { kind: "cache", name: cache.name, ksize };
  let order = 0;
  while (4096 << order < ksize) order++;
  return { kind: "pages", order, ksize };
}

function explain(m: Machine, size: number): string {
  const p = kmallocOnMemsim(m, size);
  if (p.kind === "zero") return "kmalloc(0) -> ZERO_SIZE_PTR (16): no memory; kfree accepts it, any access faults";
  if (p.kind === "pages") {
    return `kmalloc(${size}) -> above ${KMALLOC_MAX_CACHE_SIZE}: page allocator, order ${p.order} (${1 << p.order} pages); ksize ${p.ksize}, ${p.ksize - size} bytes unused`;
  }
  const per = p.ksize <= 4096 ? `${Math.floor(4096 / p.ksize)} objects per 4 KiB page` : `one object spans ${p.ksize / 4096} pages`;
  return `kmalloc(${size}) -> ${p.name}; ksize ${p.ksize}, ${p.ksize - size} bytes unused (${per})`;
}

function makeKmalloc(rng: Prandom, onBoot: OnBoot): Exercise {
  const sizes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const kind = rng.below(10);
    if (kind === 0) sizes.push(pick(rng, [0, 8, 96, 192, 4096, 8192, 8193]));
    else if (kind < 7) sizes.push(between(rng, 1, 600));
    else sizes.push(between(rng, 600, 40000));
  }
  const question = [
    `The kmalloc caches hold objects of ${KMALLOC_SIZES.join(", ")} bytes; requests above ${KMALLOC_MAX_CACHE_SIZE} bytes go to the page allocator.`,
    `For each request, which cache (or page order) serves it, what does ksize() return, and how many bytes are unused?`,
    `Requests: ${sizes.map((s) => `kmalloc(${s})`).join(", ")}.`,
  ].join("\n");
  const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, debugVm: 0 });
  onBoot(m);
  return { topic: "kmalloc", question, answer: sizes.map((size) => explain(m, size)).join("\n") };
}

/** The kmalloc topic. */
export const KMALLOC_TOPIC: Topic = {
  name: "kmalloc",
  summary: "which kmalloc cache serves a size, ksize() and the bytes lost to rounding",
  make: makeKmalloc,
};
