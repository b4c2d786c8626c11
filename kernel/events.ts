/**
 * The typed event stream (`m.events`): listeners per kind, and the emit
 * calls the subsystems make (Linux's tracepoints, kernel/trace/).
 *
 * Zero cost when nobody listens: `on` holds one flag per kind, and every
 * emit point tests `events.active[EV_X] !== 0` before it calls an emitter here,
 * so no event object is built, no argument computed. An emitter stamps the
 * event with the next sequence number, the logical clock (1000 ns per
 * delivered event), CPU 0 and the current task, then calls each listener of
 * its kind in the order they were added.
 *
 * kernel/main.ts makes the machine's one bus before any layer and hands it
 * to each layer that emits as it builds it (the `events` of its boot
 * parameters); a part built on its own holds NO_EVENTS, which nobody can
 * listen to.
 */
import {
  EV_BRK,
  EV_KFREE,
  EV_KMALLOC,
  EV_KMEM_CACHE_ALLOC,
  EV_KMEM_CACHE_FREE,
  EV_MADVISE,
  EV_MM_BUDDY_MERGE,
  EV_MM_BUDDY_SPLIT,
  EV_MM_PAGE_ALLOC,
  EV_MM_PAGE_FREE,
  EV_MMAP,
  EV_MPROTECT,
  EV_MREMAP,
  EV_MUNMAP,
  EV_PAGE_FAULT_USER,
  EV_SCHED_PROCESS_EXIT,
  EV_SCHED_PROCESS_FORK,
  EV_SIGNAL_DELIVER,
  EV_SIGNAL_GENERATE,
  EV_TASK_NEWTASK,
  EV_TLB_FLUSH,
  EV_VFREE,
  EV_VM_ENOUGH_MEMORY,
  EV_VM_UNACCT_MEMORY,
  EV_VMALLOC,
  EVENT_KINDS,
  type EventFields,
  type EventHandler,
  type EventKind,
  type EventOf,
  FAULT_OUTCOMES,
  type FaultOutcome,
  NR_EVENT_KINDS,
} from "./events_types.ts";
import { PAGE_OFFSET } from "./mm/types.ts";
import { panic } from "./panic.ts";

/** Nanoseconds the logical clock advances per delivered event. */
export const EVENT_TICK_NS = 1000;
/** Bytes of one struct page record in mem_map (memmap.ts: 16 words). */
const STRUCT_PAGE_BYTES = 64;
/** MIGRATE_* of a gfp mask: (gfp & (__GFP_RECLAIMABLE | __GFP_MOVABLE)) >> GFP_MOVABLE_SHIFT. */
const GFP_MOVABLE_MASK = 0x18;
const GFP_MOVABLE_SHIFT = 3;

const KIND_INDEX = new Map<string, number>(EVENT_KINDS.map((k, i) => [k, i]));

/** The index of kind `kind`. Throws RangeError for an unknown kind. */
export function eventKindIndex(kind: string): number {
  const i = KIND_INDEX.get(kind);
  if (i === undefined) throw new RangeError(`events: unknown event kind '${kind}' (kinds: ${EVENT_KINDS.join(", ")})`);
  return i;
}

type AnyHandler = (e: never) => void;

/** One machine's event bus. */
export class KernelEvents {
  /** One flag per kind (index EV_*): 1 while the kind has a listener. Test it before emitting. */
  readonly active = new Uint8Array(NR_EVENT_KINDS);
  private readonly handlers: AnyHandler[][] = EVENT_KINDS.map(() => []);
  /** Events delivered so far (the last sequence number). */
  seq = 0;
  /** The task events are stamped with (Tasks keeps it current). */
  pid = 0;
  comm = "swapper/0";
  /** The CPU events are stamped with (kernel/smp.ts keeps it current; 0 on a one-CPU machine). */
  cpu = 0;
  /** The kva of mem_map's first record (struct page addresses in page=). */
  readonly memmapKva: number;
  /** The cost clock's now() (setClock). */
  private clockNow: () => number = () => 0;
  /** "inert" for NO_EVENTS, which nobody may listen to. */
  private readonly role: "machine" | "inert";

  /**
   * A machine's bus, or (role "inert") the placeholder a part built on its
   * own holds. One class for both, so the emit points' loads of `ev.active`
   * see one object shape. `memmapKva` is where mem_map starts in the direct
   * map (what struct page addresses are computed from).
   */
  constructor(role: "machine" | "inert" = "machine", memmapKva: number = PAGE_OFFSET) {
    this.role = role;
    this.memmapKva = memmapKva;
  }

  /** Adds a listener of `kind`. Throws RangeError for an unknown kind. */
  listen<K extends EventKind>(kind: K, handler: EventHandler<K>): void {
    if (this.role === "inert") panic(`events: listening for '${kind}' on a subsystem that was never given its kernel's event bus`);
    if (typeof handler !== "function") throw new TypeError(`events.on('${kind}'): the handler must be a function`);
    const i = eventKindIndex(kind);
    (this.handlers[i] as AnyHandler[]).push(handler as AnyHandler);
    this.active[i] = 1;
  }

  /** Removes one registration of `handler` from `kind`; false when it was not listening. */
  unlisten<K extends EventKind>(kind: K, handler: EventHandler<K>): boolean {
    const i = eventKindIndex(kind);
    const list = this.handlers[i] as AnyHandler[];
    const at = list.indexOf(handler as AnyHandler);
    if (at < 0) return false;
    list.splice(at, 1);
    this.active[i] = list.length > 0 ? 1 : 0;
    return true;
  }

  /** Listeners of `kind` now. */
  listeners(kind: EventKind): number {
    return (this.handlers[eventKindIndex(kind)] as AnyHandler[]).length;
  }

  /** The logical clock now, in nanoseconds. */
  now(): number {
    return this.seq * EVENT_TICK_NS;
  }

  /** The cost clock events are stamped with (kernel/main.ts sets the machine's; a part built alone reads 0). */
  setClock(now: () => number): void {
    this.clockNow = now;
  }

  /** Sets the CPU later events happen on (kernel/smp.ts, at each switch of CPU). */
  setCpu(cpu: number): void {
    this.cpu = cpu;
  }

  /** Names the task later events happen on (pid 0 is the kernel itself). */
  setTask(pid: number, comm: string): void {
    this.pid = pid;
    this.comm = comm;
  }

  /** Stamps and delivers one event of kind `kind` (index i). Callers have tested `active[i]`. */
  emit<K extends EventKind>(i: number, kind: K, fields: EventFields[K]): void {
    const seq = ++this.seq;
    const e = {
      seq,
      ts: seq * EVENT_TICK_NS,
      clock_ns: this.clockNow(),
      cpu: this.cpu,
      common_pid: this.pid,
      common_comm: this.comm,
      kind,
      ...fields,
    } as unknown as EventOf<K>;
    const list = this.handlers[i] as Array<(e: EventOf<K>) => void>;
    // A listener may remove itself: walk a snapshot.
    for (const h of list.length === 1 ? list : list.slice()) h(e);
  }

  /** The struct page address of `pfn` (what Linux's page= prints). */
  pageAddr(pfn: number): number {
    return this.memmapKva + pfn * STRUCT_PAGE_BYTES;
  }

  /** mm_page_alloc; pfn < 0 for a failed allocation. */
  mmPageAlloc(pfn: number, order: number, gfp: number): void {
    const page = pfn < 0 ? 0 : this.pageAddr(pfn);
    const migratetype = (gfp & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT;
    this.emit(EV_MM_PAGE_ALLOC, "mm_page_alloc", { page, pfn: pfn < 0 ? -1 : pfn, order, migratetype, gfp_flags: gfp });
  }

  mmPageFree(pfn: number, order: number): void {
    this.emit(EV_MM_PAGE_FREE, "mm_page_free", { page: this.pageAddr(pfn), pfn, order });
  }

  /** Block (pfn, order) split in two halves of order - 1. */
  buddySplit(pfn: number, order: number): void {
    this.emit(EV_MM_BUDDY_SPLIT, "mm_buddy_split", { pfn, order, buddy: pfn + (1 << (order - 1)) });
  }

  /** Free blocks pfn and its buddy of `order` merged. */
  buddyMerge(pfn: number, order: number): void {
    this.emit(EV_MM_BUDDY_MERGE, "mm_buddy_merge", { pfn, order, buddy: pfn ^ (1 << order) });
  }

  kmalloc(caller: string | undefined, ptr: number, bytesReq: number, bytesAlloc: number, gfp: number): void {
    this.emit(EV_KMALLOC, "kmalloc", {
      call_site: caller ?? "",
      ptr,
      bytes_req: bytesReq,
      bytes_alloc: bytesAlloc,
      gfp_flags: gfp,
      node: 0,
      accounted: false,
    });
  }

  kfree(caller: string | undefined, ptr: number): void {
    this.emit(EV_KFREE, "kfree", { call_site: caller ?? "", ptr });
  }

  kmemCacheAlloc(caller: string | undefined, ptr: number, name: string, bytesReq: number, bytesAlloc: number, gfp: number): void {
    this.emit(EV_KMEM_CACHE_ALLOC, "kmem_cache_alloc", {
      call_site: caller ?? "",
      ptr,
      name,
      bytes_req: bytesReq,
      bytes_alloc: bytesAlloc,
      gfp_flags: gfp,
      node: 0,
      accounted: false,
    });
  }

  kmemCacheFree(caller: string | undefined, ptr: number, name: string): void {
    this.emit(EV_KMEM_CACHE_FREE, "kmem_cache_free", { call_site: caller ?? "", ptr, name });
  }

  vmalloc(caller: string | undefined, addr: number, size: number, nrPages: number, gfp: number): void {
    this.emit(EV_VMALLOC, "vmalloc", { call_site: caller ?? "", addr, size, nr_pages: nrPages, gfp_flags: gfp });
  }

  vfree(addr: number, nrPages: number): void {
    this.emit(EV_VFREE, "vfree", { addr, nr_pages: nrPages });
  }

  tlbFlush(pages: number, reason: number): void {
    this.emit(EV_TLB_FLUSH, "tlb_flush", { pages, reason });
  }

  /**
   * page_fault_user for a resolved fault: `pfo` is what Memory recorded
   * (PFO_*), `siCode` the SEGV_* code when the fault ends in SIGSEGV (0
   * otherwise), `oom` nonzero when no frame could be had.
   */
  pageFaultUser(address: number, errorCode: number, pfo: number, stackGrowth: boolean, siCode: number, oom: number): void {
    const outcome: FaultOutcome = oom !== 0 ? "oom" : siCode !== 0 ? "sigsegv" : (FAULT_OUTCOMES[pfo] as FaultOutcome);
    this.emit(EV_PAGE_FAULT_USER, "page_fault_user", {
      address,
      ip: 0,
      error_code: errorCode,
      outcome,
      stack_growth: stackGrowth,
      si_code: siCode,
    });
  }

  sysBrk(brk: number, ret: number): void {
    this.emit(EV_BRK, "brk", { brk, ret });
  }

  sysMmap(addr: number, len: number, prot: number, flags: number, fd: number, off: number, ret: number): void {
    this.emit(EV_MMAP, "mmap", { addr, len, prot, flags, fd, off, ret });
  }

  sysMunmap(addr: number, len: number, ret: number): void {
    this.emit(EV_MUNMAP, "munmap", { addr, len, ret });
  }

  sysMprotect(start: number, len: number, prot: number, ret: number): void {
    this.emit(EV_MPROTECT, "mprotect", { start, len, prot, ret });
  }

  sysMremap(addr: number, oldLen: number, newLen: number, flags: number, newAddr: number, ret: number): void {
    this.emit(EV_MREMAP, "mremap", { addr, old_len: oldLen, new_len: newLen, flags, new_addr: newAddr, ret });
  }

  sysMadvise(start: number, lenIn: number, behavior: number, ret: number): void {
    this.emit(EV_MADVISE, "madvise", { start, len_in: lenIn, behavior, ret });
  }

  vmEnoughMemory(pages: number, ret: number, committed: number): void {
    this.emit(EV_VM_ENOUGH_MEMORY, "vm_enough_memory", { pages, ret, committed });
  }

  vmUnacctMemory(pages: number, committed: number): void {
    this.emit(EV_VM_UNACCT_MEMORY, "vm_unacct_memory", { pages, committed });
  }

  taskNewtask(pid: number, comm: string, cloneFlags: number, oomScoreAdj = 0): void {
    this.emit(EV_TASK_NEWTASK, "task_newtask", { pid, comm, clone_flags: cloneFlags, oom_score_adj: oomScoreAdj });
  }

  processFork(parentComm: string, parentPid: number, childComm: string, childPid: number): void {
    this.emit(EV_SCHED_PROCESS_FORK, "sched_process_fork", {
      parent_comm: parentComm,
      parent_pid: parentPid,
      child_comm: childComm,
      child_pid: childPid,
    });
  }

  /** sched_process_exit; prio 120 is a nice-0 task's. */
  processExit(comm: string, pid: number): void {
    this.emit(EV_SCHED_PROCESS_EXIT, "sched_process_exit", { comm, pid, prio: 120 });
  }

  /** signal_generate then signal_deliver of `sig` to (pid, comm); handler 1 when a user handler runs. */
  signal(sig: number, code: number, comm: string, pid: number, handler: number): void {
    if (this.active[EV_SIGNAL_GENERATE] !== 0) {
      this.emit(EV_SIGNAL_GENERATE, "signal_generate", { sig, errno: 0, code, comm, pid, grp: 0, res: 0 });
    }
    if (this.active[EV_SIGNAL_DELIVER] !== 0) {
      this.emit(EV_SIGNAL_DELIVER, "signal_deliver", { sig, errno: 0, code, sa_handler: handler, sa_flags: 0 });
    }
  }
}

/** The shared inert bus: what a part built outside kernel/main.ts holds (every flag stays 0). */
export const NO_EVENTS: KernelEvents = new KernelEvents("inert");
