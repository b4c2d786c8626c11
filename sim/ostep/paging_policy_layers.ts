/**
 * The two policies of OSTEP's paging-policy.py that draw from Python's
 * generator, written as `layers.replacement` policies (kernel/LAYERS.md),
 * through the public interface alone, as a student's policy would be:
 *
 * - RAND: the victim is the resident page at a random position of the list
 *   of resident pages in the order they came in.
 * - CLOCK: the simulator's own clock: each resident page has a counter (1
 *   when it comes in; each later access adds 1, up to `clockbits`); the
 *   hand jumps to a random position of the same list, takes one from a
 *   counter that is not 0 and stops at the first page whose counter is 0.
 *
 * Both draw `random.random()` from the PyRandom they are handed, the
 * generator the simulator drew the addresses from, so the same seed picks
 * the same victims as the original. And MRU, which the simulator also
 * knows: the most recently used page goes. They need the every-access mode
 * (one `referenced` per access) for CLOCK's counters and MRU's order.
 */
import type { ReplacementKernel, ReplacementLayer, ReplacementPolicy } from "../../kernel/mm/replacement.ts";
import type { PyRandom } from "./py_random.ts";

/** The resident pages in the order they came in (the simulator's `memory` list, without LRU's reordering). */
class ArrivalOrder {
  readonly pfns: number[] = [];

  add(pfn: number): void {
    this.pfns.push(pfn);
  }

  remove(pfn: number): void {
    const i = this.pfns.indexOf(pfn);
    if (i >= 0) this.pfns.splice(i, 1);
  }

  /** Moves `pfn` to the end (the most recent). */
  touch(pfn: number): void {
    const i = this.pfns.indexOf(pfn);
    if (i >= 0 && i !== this.pfns.length - 1) {
      this.pfns.splice(i, 1);
      this.pfns.push(pfn);
    }
  }

  /** The page at `int(random.random() * count)`. */
  draw(rng: PyRandom): number {
    return this.pfns[Math.floor(rng.random() * this.pfns.length)] as number;
  }
}

/** paging-policy.py's RAND. */
export function pyRandReplacement(rng: PyRandom): ReplacementLayer {
  return (_k: ReplacementKernel): ReplacementPolicy => {
    const order = new ArrivalOrder();
    return {
      name: "ostep-rand",
      added: (pfn) => order.add(pfn),
      removed: (pfn) => order.remove(pfn),
      referenced: () => {},
      victim: () => (order.pfns.length === 0 ? -1 : order.draw(rng)),
      keep: () => {},
    };
  };
}

/** paging-policy.py's CLOCK with `clockbits` (its -b). */
export function pyClockReplacement(rng: PyRandom, clockbits: number): ReplacementLayer {
  return (k: ReplacementKernel): ReplacementPolicy => {
    const order = new ArrivalOrder();
    const n = k.lru.memmap.nrPages;
    const counter = new Int32Array(n);
    /** 1 from `added` until the first `referenced`: the access that brought the page in sets its counter to 1. */
    const fresh = new Uint8Array(n);
    return {
      name: "ostep-clock",
      added(pfn) {
        order.add(pfn);
        fresh[pfn] = 1;
        counter[pfn] = 0;
      },
      removed(pfn) {
        order.remove(pfn);
        fresh[pfn] = 0;
        counter[pfn] = 0;
      },
      referenced(pfn) {
        if (fresh[pfn] === 1) {
          fresh[pfn] = 0;
          counter[pfn] = 1;
        } else counter[pfn] = Math.min((counter[pfn] as number) + 1, clockbits);
      },
      victim() {
        if (order.pfns.length === 0) return -1;
        for (;;) {
          const pfn = order.draw(rng);
          if ((counter[pfn] as number) === 0) return pfn;
          counter[pfn] = (counter[pfn] as number) - 1;
        }
      },
      keep: () => {},
    };
  };
}

/** paging-policy.py's MRU: the page used last goes (each access moves its page to the end). */
export const pyMruReplacement: ReplacementLayer = (): ReplacementPolicy => {
  const order = new ArrivalOrder();
  return {
    name: "ostep-mru",
    added: (pfn) => order.add(pfn),
    removed: (pfn) => order.remove(pfn),
    referenced: (pfn) => order.touch(pfn),
    victim: () => (order.pfns.length === 0 ? -1 : (order.pfns.at(-1) as number)),
    keep: () => {},
  };
};
