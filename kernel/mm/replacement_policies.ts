/**
 * Replacement policies for `layers.replacement` besides the default
 * two-list one (replacement.ts): FIFO, LRU, CLOCK, RANDOM (seeded) and OPT
 * (Belady's, given the reference string of a first run), and a recorder
 * that writes that string. Each keeps its own order in typed arrays indexed
 * by pfn; the kernel leaves every page they hold on the inactive list.
 *
 * References a policy is told of: `added` (the page came in: a fault, a
 * swap-in) and `referenced` (a fault mapped it again, or a refault; in the
 * every-access mode, each user load and store). LRU and CLOCK also read
 * accessed bits with `k.harvest` when they look for a victim, as hardware
 * gives them, except in the every-access mode, where the bits say nothing
 * `referenced` did not (so LRU is exact there); FIFO, RANDOM and OPT never
 * read them.
 */
import { Prandom } from "../lib/random.ts";
import type { ReplacementKernel, ReplacementLayer, ReplacementPolicy } from "./replacement.ts";

/** A doubly linked list of pfns in two Int32Arrays (pfn + 1 links, 0 = none): head = newest. */
class PfnList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly on: Uint8Array;
  head = 0;
  tail = 0;
  size = 0;

  constructor(nrPages: number) {
    this.next = new Int32Array(nrPages);
    this.prev = new Int32Array(nrPages);
    this.on = new Uint8Array(nrPages);
  }

  pushHead(pfn: number): void {
    this.next[pfn] = this.head;
    this.prev[pfn] = 0;
    if (this.head !== 0) this.prev[this.head - 1] = pfn + 1;
    else this.tail = pfn + 1;
    this.head = pfn + 1;
    this.on[pfn] = 1;
    this.size++;
  }

  remove(pfn: number): void {
    if (this.on[pfn] === 0) return;
    const n = this.next[pfn] as number;
    const p = this.prev[pfn] as number;
    if (p !== 0) this.next[p - 1] = n;
    else this.head = n;
    if (n !== 0) this.prev[n - 1] = p;
    else this.tail = p;
    this.on[pfn] = 0;
    this.size--;
  }

  toHead(pfn: number): void {
    this.remove(pfn);
    this.pushHead(pfn);
  }

  /** The oldest pfn, or -1. */
  last(): number {
    return this.tail - 1;
  }
}

/** FIFO: the page resident longest goes first; references change nothing. */
export const fifoReplacement: ReplacementLayer = (k) => new Fifo(k);

class Fifo implements ReplacementPolicy {
  readonly name: string = "fifo";
  protected readonly list: PfnList;

  constructor(protected readonly k: ReplacementKernel) {
    this.list = new PfnList(k.lru.memmap.nrPages);
  }

  added(pfn: number): void {
    this.list.pushHead(pfn);
  }

  removed(pfn: number): void {
    this.list.remove(pfn);
  }

  referenced(_pfn: number): void {}

  victim(): number {
    return this.list.last();
  }

  keep(pfn: number): void {
    this.list.toHead(pfn);
  }
}

/**
 * LRU: the page whose last known reference is oldest goes first. A
 * reference moves a page to the most-recent end; looking for a victim, a
 * page whose accessed bits were set since the last look counts as
 * referenced now. Exact for the references it is told of; between two
 * looks the accessed bits say only "at least once".
 */
export const lruReplacement: ReplacementLayer = (k) => new Lru(k);

class Lru extends Fifo {
  override readonly name = "lru";

  override referenced(pfn: number): void {
    if (this.list.on[pfn] !== 0) this.list.toHead(pfn);
  }

  override victim(): number {
    if (this.k.references === "every-access") return this.list.last();
    for (let n = this.list.size; n > 0; n--) {
      const pfn = this.list.last();
      if (this.k.harvest(pfn) === 0) return pfn;
      this.list.toHead(pfn);
    }
    return this.list.last();
  }
}

/**
 * CLOCK: the pages in a circle with a use bit each; the hand clears set
 * bits (and accessed bits, harvested) as it passes and stops at the first
 * page whose bit was clear. A new page enters just behind the hand with its
 * bit set.
 */
export const clockReplacement: ReplacementLayer = (k) => new Clock(k);

class Clock implements ReplacementPolicy {
  readonly name = "clock";
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly use: Uint8Array;
  private readonly on: Uint8Array;
  /** The page under the hand, or -1 when the circle is empty. */
  private hand = -1;

  constructor(private readonly k: ReplacementKernel) {
    const n = k.lru.memmap.nrPages;
    this.next = new Int32Array(n);
    this.prev = new Int32Array(n);
    this.use = new Uint8Array(n);
    this.on = new Uint8Array(n);
  }

  added(pfn: number): void {
    this.on[pfn] = 1;
    this.use[pfn] = 1;
    const h = this.hand;
    if (h < 0) {
      this.next[pfn] = pfn;
      this.prev[pfn] = pfn;
      this.hand = pfn;
      return;
    }
    const behind = this.prev[h] as number;
    this.next[behind] = pfn;
    this.prev[pfn] = behind;
    this.next[pfn] = h;
    this.prev[h] = pfn;
  }

  removed(pfn: number): void {
    if (this.on[pfn] === 0) return;
    this.on[pfn] = 0;
    const n = this.next[pfn] as number;
    if (n === pfn) {
      this.hand = -1;
      return;
    }
    const p = this.prev[pfn] as number;
    this.next[p] = n;
    this.prev[n] = p;
    if (this.hand === pfn) this.hand = n;
  }

  referenced(pfn: number): void {
    if (this.on[pfn] !== 0) this.use[pfn] = 1;
  }

  victim(): number {
    if (this.hand < 0) return -1;
    // Two turns at most: the first clears every bit.
    for (;;) {
      const pfn = this.hand;
      if (this.k.references === "faults-and-bits" && this.k.harvest(pfn) > 0) this.use[pfn] = 1;
      if (this.use[pfn] === 0) return pfn;
      this.use[pfn] = 0;
      this.hand = this.next[pfn] as number;
    }
  }

  keep(pfn: number): void {
    if (this.hand === pfn) this.hand = this.next[pfn] as number;
  }
}

/** RANDOM: a resident page drawn uniformly, from a generator seeded with the machine's seed. */
export const randomReplacement: ReplacementLayer = (k) => new RandomPolicy(k);

class RandomPolicy implements ReplacementPolicy {
  readonly name = "random";
  private readonly pages: Int32Array;
  /** Position of each resident pfn in `pages`, plus one (0 = not resident). */
  private readonly pos: Int32Array;
  private n = 0;
  private readonly rng: Prandom;

  constructor(k: ReplacementKernel) {
    this.pages = new Int32Array(k.lru.memmap.nrPages);
    this.pos = new Int32Array(k.lru.memmap.nrPages);
    this.rng = new Prandom(k.seed);
  }

  added(pfn: number): void {
    this.pages[this.n] = pfn;
    this.pos[pfn] = ++this.n;
  }

  removed(pfn: number): void {
    const at = (this.pos[pfn] as number) - 1;
    if (at < 0) return;
    const last = this.pages[--this.n] as number;
    this.pages[at] = last;
    this.pos[last] = at + 1;
    this.pos[pfn] = 0;
  }

  referenced(_pfn: number): void {}

  victim(): number {
    return this.n === 0 ? -1 : (this.pages[this.rng.below(this.n)] as number);
  }

  keep(_pfn: number): void {}
}

/**
 * OPT (Belady's MIN): the resident page whose next use in `refs` is
 * farthest away goes first; pages never used again go first of all, oldest
 * resident first. `refs` is the string of page keys (k.pageKey) a first run
 * recorded with recordingReplacement; each `added` and `referenced` call
 * is one step along it (in the every-access mode, each `referenced` call:
 * one per access).
 */
export function optReplacement(refs: readonly number[], opts: OptOptions = {}): ReplacementLayer {
  return (k) => new Opt(k, refs, opts.pick ?? "farthest", opts.ties ?? "oldest");
}

/** OPT's variants: which next use goes first, and which resident page among equals (pages never used again tie). */
export interface OptOptions {
  /** "farthest" (Belady's, the default) or "soonest" (the worst choice, OSTEP's UNOPT). */
  readonly pick?: "farthest" | "soonest";
  /** Among pages whose next uses tie: the one resident longest ("oldest", the default) or the one that came in last ("newest"). */
  readonly ties?: "oldest" | "newest";
}

class Opt extends Fifo {
  override readonly name = "opt";
  /** References seen so far: the next use is searched from here. */
  private step = 0;

  constructor(
    k: ReplacementKernel,
    private readonly refs: readonly number[],
    private readonly pick: "farthest" | "soonest",
    private readonly ties: "oldest" | "newest",
  ) {
    super(k);
  }

  override added(pfn: number): void {
    // In the every-access mode the access that brought the page in is also `referenced`: one step.
    if (this.k.references === "faults-and-bits") this.step++;
    super.added(pfn);
  }

  override referenced(_pfn: number): void {
    this.step++;
  }

  /** Walks the resident pages oldest first; the first page that beats the best so far wins, or also one that ties it with ties "newest". */
  override victim(): number {
    const soonest = this.pick === "soonest";
    const newest = this.ties === "newest";
    let best = -1;
    let bestNext = soonest ? Number.POSITIVE_INFINITY : -1;
    for (let p = this.list.last(); p >= 0; p = (this.list.prev[p] as number) - 1) {
      const next = this.nextUse(this.k.pageKey(p));
      const better = soonest ? next < bestNext || (newest && next === bestNext) : next > bestNext || (newest && next === bestNext);
      if (better) {
        best = p;
        bestNext = next;
      }
      if (!soonest && !newest && next === Number.MAX_SAFE_INTEGER) break;
    }
    return best;
  }

  /** The step of the next reference to `key`, or MAX_SAFE_INTEGER when there is none. */
  private nextUse(key: number): number {
    const refs = this.refs;
    for (let i = this.step; i < refs.length; i++) if (refs[i] === key) return i;
    return Number.MAX_SAFE_INTEGER;
  }
}

/** Wraps a policy and appends the key of every reference it is told of (added and referenced; in the every-access mode referenced alone) to `out`: the string OPT replays. */
export function recordingReplacement(inner: ReplacementLayer, out: number[]): ReplacementLayer {
  return (k) => {
    const p = inner(k);
    return {
      name: p.name,
      added(pfn: number): void {
        if (k.references === "faults-and-bits") out.push(k.pageKey(pfn));
        p.added(pfn);
      },
      removed: (pfn: number): void => p.removed(pfn),
      referenced(pfn: number): void {
        out.push(k.pageKey(pfn));
        p.referenced(pfn);
      },
      victim: (): number => p.victim(),
      keep: (pfn: number): void => p.keep(pfn),
    };
  };
}
