/**
 * Baselines measured in the same process as every case: the cost of the
 * bare JavaScript operations a memsim operation is built from.
 */
import type { BenchCase } from "../harness.ts";

let sink = 0;

/** Push/pop pairs on a bare Int32Array stack. */
const stack: BenchCase = {
  name: "int32-stack push/pop",
  ops: 5_000_000,
  setup() {
    const s = new Int32Array(1024);
    let top = 0;
    return (ops) => {
      for (let i = 0; i < ops; i++) {
        s[top++] = i;
        sink ^= s[--top] as number;
      }
    };
  },
};

/** Loads from a raw Uint32Array at a varying index. */
const load: BenchCase = {
  name: "uint32 load",
  ops: 10_000_000,
  setup() {
    const a = new Uint32Array(1 << 16);
    for (let i = 0; i < a.length; i++) a[i] = i;
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= a[(i * 7) & 0xffff] as number;
      sink ^= x;
    };
  },
};

/** Filling one 4 KiB page with zeros. */
const fill: BenchCase = {
  name: "4 KiB fill",
  ops: 200_000,
  setup() {
    const a = new Uint8Array(1 << 22);
    return (ops) => {
      for (let i = 0; i < ops; i++) a.fill(0, (i & 1023) << 12, ((i & 1023) + 1) << 12);
    };
  },
};

/** Copying one 4 KiB page. */
const copy: BenchCase = {
  name: "4 KiB copy",
  ops: 200_000,
  setup() {
    const a = new Uint8Array(1 << 22);
    return (ops) => {
      for (let i = 0; i < ops; i++) {
        const src = (i & 511) << 12;
        a.copyWithin(src + (512 << 12), src, src + 4096);
      }
    };
  },
};

let fresh = new Uint8Array(0);
/**
 * The first touch of each 4 KiB page of a fresh host ArrayBuffer: the host's
 * own demand-zero page fault. 64 MiB buffers lie above glibc's largest mmap
 * threshold, so each is a fresh anonymous mapping (made untimed, in reset).
 */
const firstTouch: BenchCase = {
  name: "first touch of a fresh 4 KiB page (host ArrayBuffer)",
  ops: 1024,
  rounds: 40,
  setup() {
    return (ops) => {
      const a = fresh;
      const n = Math.min(ops, a.length >>> 12);
      for (let i = 0; i < n; i++) a[i << 12] = 1;
    };
  },
  reset() {
    fresh = new Uint8Array(64 << 20);
  },
};

export const BASELINES: readonly BenchCase[] = [stack, load, fill, copy, firstTouch];

/** Keeps the baselines' results observable so no engine drops the loops. */
export function baselineSink(): number {
  return sink;
}
