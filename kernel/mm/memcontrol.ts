/**
 * Memory cgroups (Linux mm/memcontrol.c, cgroup v2's memory controller,
 * reduced to one level under the root): a group of processes whose private
 * anonymous pages are counted together and held under a limit.
 *
 * Owns: struct mem_cgroup (id, name, limits in pages, the page counter, the
 * swap counter, memory.events), the charge of every user anonymous page
 * (struct page word 9, SP_MEMCG: the id charged, 0 = none) and of every swap
 * slot written for one (the per-slot record beside the swap map, Linux's
 * swap_cgroup, kept by swapfile.ts). Calls: a MemcgReclaim (kernel/task_init.ts
 * wires vmscan.ts tryToFreePages) when a group is over its limits.
 *
 *   charge      a page is given to a process in a group: demand-zero, COW
 *               copy, swap-in read from the device (Memory calls tryCharge
 *               before allocating and charge after); the group's current +1
 *   uncharge    the page's last reference is about to drop (current -1)
 *   swapout     the page leaves RAM for a slot: its charge moves to the slot
 *               (current -1, swap.current +1); swap-in moves it back, and a
 *               slot freed while it holds a charge gives it up
 *
 * The root group (id 0) charges nothing and has no limits. A process moved
 * to another group keeps its pages charged where they are; its new pages
 * go to the new group (cgroup v2 does not move charges either). Shared
 * anonymous (MAP_SHARED) pages, page-cache pages and page tables are not
 * charged (kernel/LINUX.md).
 *
 * Words: memcg = memory cgroup; charge = the page counted in a group.
 */
import { invariant } from "../panic.ts";
import { type MemMap, PG_alloc, PG_anon, SP_MEMCG } from "./memmap.ts";
import { PAGE_SIZE } from "./types.ts";

/** "max": no limit. */
export const MEMCG_MAX = Number.POSITIVE_INFINITY;
/** Group ids fit 16 bits (the swap record is a Uint16Array). */
const MAX_GROUPS = 0xffff;

/**
 * The reclaim a group over its limit asks for (try_to_free_mem_cgroup_pages):
 * free up to `nrPages` pages charged to group `memcg`. Returns pages freed.
 */
export interface MemcgReclaim {
  tryToFreePages(nrPages: number, memcg: number): number;
}

/** memory.events: how often each limit was met. */
export class MemcgEvents {
  /** Never counted: memsim has no memory.low. */
  low = 0;
  /** A charge found the group at or over memory.high (and reclaimed). */
  high = 0;
  /** A charge found the group at memory.max. */
  max = 0;
  /** Reclaim could not bring the group under memory.max: a group OOM. */
  oom = 0;
  /** Processes of the group the OOM killer killed (global or group OOM). */
  oom_kill = 0;
}

/** Limits given at create or written later, in bytes (Infinity = "max"). */
export interface MemcgLimits {
  readonly max?: number;
  readonly high?: number;
}

/** struct mem_cgroup. */
export class MemCgroup {
  /** Page limits (Infinity = max). */
  maxPages = MEMCG_MAX;
  highPages = MEMCG_MAX;
  /** Pages charged now (memory.current / 4096). */
  current = 0;
  /** Swap slots charged now (memory.swap.current / 4096). */
  swapCurrent = 0;
  /** Pages reclaim took out of the group (memory.stat pgsteal). */
  pgsteal = 0;
  readonly events = new MemcgEvents();

  constructor(
    readonly id: number,
    readonly name: string,
  ) {}

  /** The group's path, as /proc/PID/cgroup and the OOM report show it ("/" for the root). */
  get path(): string {
    return this.id === 0 ? "/" : `/${this.name}`;
  }
}

/** The files a group has (cgroup v2 names). */
export const MEMCG_FILES = ["memory.current", "memory.max", "memory.high", "memory.stat", "memory.events", "memory.swap.current"] as const;
export type MemcgFile = (typeof MEMCG_FILES)[number];

/** The machine's memory cgroups and their charges. */
export class MemcgController {
  readonly root = new MemCgroup(0, "");
  /** Groups by id; index 0 is the root. */
  private readonly groups: Array<MemCgroup | undefined> = [this.root];
  private readonly byName = new Map<string, MemCgroup>();
  /** The reclaim groups over their limits call (kernel/task_init.ts sets it). */
  reclaim: MemcgReclaim | null = null;
  /** The group whose charge failed last (mem_cgroup_oom: handled once the fault is unwound), or 0. */
  oomPending = 0;
  private readonly w: Uint32Array;

  constructor(private readonly memmap: MemMap) {
    this.w = memmap.w;
  }

  /**
   * mkdir /sys/fs/cgroup/NAME with its limits. Throws RangeError when the
   * name is empty, has a '/', is taken, or a limit is not a whole number of
   * bytes (or Infinity).
   */
  create(name: string, limits: MemcgLimits = {}): MemCgroup {
    if (name === "" || name.includes("/")) throw new RangeError(`cgroups.create: bad name '${name}'`);
    if (this.byName.has(name)) throw new RangeError(`cgroups.create: '${name}' exists`);
    if (this.groups.length > MAX_GROUPS) throw new RangeError("cgroups.create: too many groups");
    const g = new MemCgroup(this.groups.length, name);
    g.maxPages = limitPages("max", limits.max ?? MEMCG_MAX);
    g.highPages = limitPages("high", limits.high ?? MEMCG_MAX);
    this.groups.push(g);
    this.byName.set(name, g);
    return g;
  }

  /** The group named `name` (the root for ""), or undefined. */
  lookup(name: string): MemCgroup | undefined {
    return name === "" || name === "/" ? this.root : this.byName.get(name);
  }

  /** The group with id `id`. Panics (invariant) on an unknown id. */
  byId(id: number): MemCgroup {
    const g = this.groups[id];
    invariant(g !== undefined, "MEMCG-2", `no memory cgroup with id ${id}`);
    return g;
  }

  /** Every group but the root, by id. */
  list(): MemCgroup[] {
    return this.groups.slice(1) as MemCgroup[];
  }

  /**
   * try_charge for one page of group `id`, before the page is allocated:
   * over memory.high, reclaim down to it (memory.events high); at
   * memory.max, reclaim room for the page (memory.events max). Returns
   * false, with `oomPending` set, when the group stays at its max.
   */
  tryCharge(id: number): boolean {
    const g = this.groups[id] as MemCgroup;
    if (g.current + 1 > g.highPages) {
      g.events.high++;
      this.reclaimPages(g, g.current + 1 - g.highPages);
    }
    if (g.current + 1 <= g.maxPages) return true;
    g.events.max++;
    this.reclaimPages(g, g.current + 1 - g.maxPages);
    if (g.current + 1 <= g.maxPages) return true;
    this.oomPending = id;
    return false;
  }

  /**
   * tryCharge for a COW copy of page `hold` (-1: the zero page): the page is
   * held meanwhile (wp_page_copy's reference), so the group's reclaim cannot
   * swap out the page about to be copied.
   */
  tryChargeHolding(id: number, hold: number, pages: { getPage(pfn: number): void; freePages(pfn: number, order: number): void }): boolean {
    if (hold < 0) return this.tryCharge(id);
    pages.getPage(hold);
    const ok = this.tryCharge(id);
    pages.freePages(hold, 0);
    return ok;
  }

  /**
   * mem_cgroup_swapin_charge_folio: page `pfn`, just read from a slot, is
   * charged to group `id`; the slot's charge (group `held`, 0 = none), whose
   * record the caller cleared, goes.
   */
  swapinCharge(id: number, pfn: number, held: number): void {
    this.charge(id, pfn);
    if (held !== 0) this.swapUncharge(held);
  }

  private reclaimPages(g: MemCgroup, want: number): void {
    if (this.reclaim === null) return;
    const before = g.current;
    this.reclaim.tryToFreePages(want, g.id);
    g.pgsteal += Math.max(0, before - g.current);
  }

  /** Charges fresh page `pfn` to group `id` (commit_charge); nothing for the root. */
  charge(id: number, pfn: number): void {
    if (id === 0) return;
    this.w[pfn * 16 + SP_MEMCG] = id;
    (this.groups[id] as MemCgroup).current++;
  }

  /**
   * mem_cgroup_uncharge, called before a put of user page `pfn`: when the
   * put drops the last reference and the page is charged, the charge goes.
   */
  uncharge(pfn: number): void {
    const i = pfn * 16;
    const id = this.w[i + SP_MEMCG] as number;
    if (id === 0 || (this.w[i + 1] as number) !== 1) return;
    this.w[i + SP_MEMCG] = 0;
    (this.groups[id] as MemCgroup).current--;
  }

  /**
   * mem_cgroup_swapout: page `pfn` leaves RAM for swap slot `slot`; its
   * charge moves to the slot. Returns the id to record for the slot (0: none).
   */
  swapout(pfn: number): number {
    const i = pfn * 16 + SP_MEMCG;
    const id = this.w[i] as number;
    if (id === 0) return 0;
    this.w[i] = 0;
    const g = this.groups[id] as MemCgroup;
    g.current--;
    g.swapCurrent++;
    return id;
  }

  /** A swap slot holding group `id`'s charge was freed or read back: swap.current -1. */
  swapUncharge(id: number): void {
    (this.groups[id] as MemCgroup).swapCurrent--;
  }

  /** The group a page is charged to (0: none). */
  pageMemcg(pfn: number): number {
    return this.w[pfn * 16 + SP_MEMCG] as number;
  }

  /** Reads a group's file, cgroup v2's text. Throws RangeError on an unknown file. */
  read(g: MemCgroup, file: string): string {
    switch (file as MemcgFile) {
      case "memory.current":
        return `${g.current * PAGE_SIZE}\n`;
      case "memory.max":
        return `${limitText(g.maxPages)}\n`;
      case "memory.high":
        return `${limitText(g.highPages)}\n`;
      case "memory.swap.current":
        return `${g.swapCurrent * PAGE_SIZE}\n`;
      case "memory.events": {
        const e = g.events;
        return `low ${e.low}\nhigh ${e.high}\nmax ${e.max}\noom ${e.oom}\noom_kill ${e.oom_kill}\n`;
      }
      case "memory.stat":
        return `anon ${g.current * PAGE_SIZE}\nfile 0\nswap ${g.swapCurrent * PAGE_SIZE}\npgsteal ${g.pgsteal}\n`;
    }
    throw new RangeError(`cgroup ${g.path}: no file '${file}'`);
  }

  /**
   * Writes memory.max or memory.high: a number of bytes (rounded down to
   * pages) or "max". A lower max reclaims at the next charge. Throws
   * RangeError on a bad value or a file that cannot be written.
   */
  write(g: MemCgroup, file: string, value: string): void {
    const v = value.trim();
    const bytes = v === "max" ? MEMCG_MAX : /^\d+$/.test(v) ? Number(v) : Number.NaN;
    if (file === "memory.max") g.maxPages = limitPages("max", bytes);
    else if (file === "memory.high") g.highPages = limitPages("high", bytes);
    else throw new RangeError(`cgroup ${g.path}: '${file}' cannot be written`);
  }

  /**
   * MEMCG checker: recounts every charge from struct page and the swap records.
   *   MEMCG-1 a charged frame is not an allocated anonymous page
   *   MEMCG-2 a charge names no group
   *   MEMCG-3 a group's memory.current is not the number of frames charged to it
   *   MEMCG-4 a group's memory.swap.current is not the number of slots charged to it
   */
  check(nrPages: number, swapRecords: (fn: (slot: number, id: number) => void) => void): void {
    const pages = new Array<number>(this.groups.length).fill(0);
    const slots = new Array<number>(this.groups.length).fill(0);
    const w = this.w;
    for (let pfn = 0; pfn < nrPages; pfn++) {
      const id = w[pfn * 16 + SP_MEMCG] as number;
      if (id === 0) continue;
      invariant(id < this.groups.length, "MEMCG-2", `pfn 0x${pfn.toString(16)} is charged to unknown group ${id}`);
      invariant(
        this.memmap.testFlag(pfn, PG_alloc) && this.memmap.testFlag(pfn, PG_anon),
        "MEMCG-1",
        `pfn 0x${pfn.toString(16)} is charged to group ${id} but is not an allocated anonymous page`,
      );
      pages[id] = (pages[id] as number) + 1;
    }
    swapRecords((slot, id) => {
      invariant(id < this.groups.length, "MEMCG-2", `swap slot ${slot} is charged to unknown group ${id}`);
      slots[id] = (slots[id] as number) + 1;
    });
    for (const g of this.list()) {
      invariant(
        g.current === pages[g.id],
        "MEMCG-3",
        `group ${g.path}: memory.current counts ${g.current} pages, ${pages[g.id]} are charged`,
      );
      invariant(
        g.swapCurrent === slots[g.id],
        "MEMCG-4",
        `group ${g.path}: memory.swap.current counts ${g.swapCurrent} slots, ${slots[g.id]} are charged`,
      );
    }
  }
}

/** A limit in bytes as pages, rounded down (page_counter_memparse). Throws RangeError on a bad value. */
function limitPages(what: string, bytes: number): number {
  if (bytes === MEMCG_MAX) return MEMCG_MAX;
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new RangeError(`memory.${what} must be a whole number of bytes or "max"/Infinity, got ${bytes}`);
  return Math.floor(bytes / PAGE_SIZE);
}

function limitText(pages: number): string {
  return pages === MEMCG_MAX ? "max" : String(pages * PAGE_SIZE);
}
