/**
 * The kinds of the typed event stream and the fields each carries (see
 * kernel/EVENTS.md). Kinds are named after Linux tracepoints and use their
 * field names; the few with no Linux tracepoint (buddy split/merge, the
 * memory syscalls, commit) are named after the Linux function or syscall.
 *
 * Each kind has a small integer index (EV_*): hot paths test
 * `events.active[EV_X] !== 0` before building anything.
 */

/** Every kind, in index order. */
export const EVENT_KINDS = [
  "mm_page_alloc",
  "mm_page_free",
  "mm_buddy_split",
  "mm_buddy_merge",
  "kmalloc",
  "kfree",
  "kmem_cache_alloc",
  "kmem_cache_free",
  "page_fault_user",
  "tlb_flush",
  "brk",
  "mmap",
  "munmap",
  "mprotect",
  "mremap",
  "madvise",
  "vm_enough_memory",
  "vm_unacct_memory",
  "task_newtask",
  "sched_process_fork",
  "sched_process_exit",
  "signal_generate",
  "signal_deliver",
  "vmalloc",
  "vfree",
] as const;

export const EV_MM_PAGE_ALLOC = 0;
export const EV_MM_PAGE_FREE = 1;
export const EV_MM_BUDDY_SPLIT = 2;
export const EV_MM_BUDDY_MERGE = 3;
export const EV_KMALLOC = 4;
export const EV_KFREE = 5;
export const EV_KMEM_CACHE_ALLOC = 6;
export const EV_KMEM_CACHE_FREE = 7;
export const EV_PAGE_FAULT_USER = 8;
export const EV_TLB_FLUSH = 9;
export const EV_BRK = 10;
export const EV_MMAP = 11;
export const EV_MUNMAP = 12;
export const EV_MPROTECT = 13;
export const EV_MREMAP = 14;
export const EV_MADVISE = 15;
export const EV_VM_ENOUGH_MEMORY = 16;
export const EV_VM_UNACCT_MEMORY = 17;
export const EV_TASK_NEWTASK = 18;
export const EV_SCHED_PROCESS_FORK = 19;
export const EV_SCHED_PROCESS_EXIT = 20;
export const EV_SIGNAL_GENERATE = 21;
export const EV_SIGNAL_DELIVER = 22;
export const EV_VMALLOC = 23;
export const EV_VFREE = 24;
export const NR_EVENT_KINDS = EVENT_KINDS.length;

/** A kind's name. */
export type EventKind = (typeof EVENT_KINDS)[number];

/** What every event carries. */
export interface EventHead {
  /** 1, 2, 3 ... over the events delivered by this machine. */
  readonly seq: number;
  /** The logical clock in nanoseconds: 1000 per delivered event (seq * 1000). */
  readonly ts: number;
  /** The cost clock (`m.clock`, kernel/clock.ts) when it was delivered, in simulated nanoseconds. */
  readonly clock_ns: number;
  /** The CPU it happened on (the machine has one: always 0). */
  readonly cpu: number;
  /**
   * The task it happened on behalf of (Linux's common_pid); 0 (comm
   * "swapper/0") outside any process. Named apart from the fields some
   * kinds carry (task_newtask's pid and comm are the new task's).
   */
  readonly common_pid: number;
  readonly common_comm: string;
}

/** What a user page fault came to (page_fault_user's `outcome`). */
export type FaultOutcome =
  | "zero_page"
  | "demand_zero"
  | "zero_page_copy"
  | "cow_copy"
  | "cow_reuse"
  | "shared"
  | "wp_shared"
  | "swap_in"
  | "swap_cache"
  | "file"
  | "file_copy"
  | "spurious"
  | "sigsegv"
  | "oom";

/** Outcome codes Memory records while it handles a fault (index into FAULT_OUTCOMES). */
export const PFO_NONE = 0;
export const PFO_ZERO_PAGE = 1;
export const PFO_DEMAND_ZERO = 2;
export const PFO_ZERO_PAGE_COPY = 3;
export const PFO_COW_COPY = 4;
export const PFO_COW_REUSE = 5;
export const PFO_SHARED = 6;
export const PFO_WP_SHARED = 7;
/** A swap entry: the slot was read into a new page (a major fault). */
export const PFO_SWAP_IN = 8;
/** A swap entry whose page was still in the swap cache (a minor fault). */
export const PFO_SWAP_CACHE = 9;
/** A file mapping: the page-cache page was mapped (read from disk first if it was not cached). */
export const PFO_FILE = 10;
/** A write to a private file mapping: the file's page was copied into a private anonymous page. */
export const PFO_FILE_COPY = 11;
/** Indexed by PFO_*; PFO_NONE (no page work was done) reads as "spurious". */
export const FAULT_OUTCOMES: readonly FaultOutcome[] = [
  "spurious",
  "zero_page",
  "demand_zero",
  "zero_page_copy",
  "cow_copy",
  "cow_reuse",
  "shared",
  "wp_shared",
  "swap_in",
  "swap_cache",
  "file",
  "file_copy",
];

/** The fields of each kind. Numbers are plain (addresses as unsigned values, gfp as bits). */
export interface EventFields {
  /** A block left the page allocator. pfn -1 and page 0 when the allocation failed. */
  mm_page_alloc: { page: number; pfn: number; order: number; migratetype: number; gfp_flags: number };
  /** A block's last reference went: it returns to the allocator. */
  mm_page_free: { page: number; pfn: number; order: number };
  /** Block (pfn, order) was split; its upper half (buddy) went to the order-1 list. */
  mm_buddy_split: { pfn: number; order: number; buddy: number };
  /** Free blocks pfn and buddy of `order` merged into one of order + 1. */
  mm_buddy_merge: { pfn: number; order: number; buddy: number };
  kmalloc: {
    call_site: string;
    ptr: number;
    bytes_req: number;
    bytes_alloc: number;
    gfp_flags: number;
    node: number;
    accounted: boolean;
  };
  kfree: { call_site: string; ptr: number };
  kmem_cache_alloc: {
    call_site: string;
    ptr: number;
    name: string;
    bytes_req: number;
    bytes_alloc: number;
    gfp_flags: number;
    node: number;
    accounted: boolean;
  };
  kmem_cache_free: { call_site: string; ptr: number; name: string };
  /**
   * A user page fault, emitted once it is resolved (after the events it
   * caused). si_code is SEGV_MAPERR/SEGV_ACCERR for "sigsegv", else 0.
   */
  page_fault_user: {
    address: number;
    ip: number;
    error_code: number;
    outcome: FaultOutcome;
    stack_growth: boolean;
    si_code: number;
  };
  /** pages -1 is TLB_FLUSH_ALL; reason is Linux's TLB_* number. */
  tlb_flush: { pages: number; reason: number };
  brk: { brk: number; ret: number };
  mmap: { addr: number; len: number; prot: number; flags: number; fd: number; off: number; ret: number };
  munmap: { addr: number; len: number; ret: number };
  mprotect: { start: number; len: number; prot: number; ret: number };
  mremap: { addr: number; old_len: number; new_len: number; flags: number; new_addr: number; ret: number };
  madvise: { start: number; len_in: number; behavior: number; ret: number };
  /** A commit charge; ret 0 granted, -12 (ENOMEM) refused. committed is Committed_AS after, in pages. */
  vm_enough_memory: { pages: number; ret: number; committed: number };
  /** Commit given back; committed is Committed_AS after, in pages. */
  vm_unacct_memory: { pages: number; committed: number };
  task_newtask: { pid: number; comm: string; clone_flags: number; oom_score_adj: number };
  sched_process_fork: { parent_comm: string; parent_pid: number; child_comm: string; child_pid: number };
  sched_process_exit: { comm: string; pid: number; prio: number };
  /** res 0 is TRACE_SIGNAL_DELIVERED. */
  signal_generate: { sig: number; errno: number; code: number; comm: string; pid: number; grp: number; res: number };
  /** sa_handler 0 is SIG_DFL (the default action); 1 marks a handler installed with onSignal. */
  signal_deliver: { sig: number; errno: number; code: number; sa_handler: number; sa_flags: number };
  /** A vmalloc area made (addr 0 when it failed); call_site is the caller's label, "" when it gave none. */
  vmalloc: { call_site: string; addr: number; size: number; nr_pages: number; gfp_flags: number };
  /** A vmalloc area freed by vfree (not vunmap, not a bad vfree). */
  vfree: { addr: number; nr_pages: number };
}

/** One event of kind K. */
export type EventOf<K extends EventKind> = EventHead & { readonly kind: K } & Readonly<EventFields[K]>;

/** Any event. */
export type MemsimEvent = { [K in EventKind]: EventOf<K> }[EventKind];

/** A listener of kind K. */
export type EventHandler<K extends EventKind> = (e: EventOf<K>) => void;

/** Linux's tlb_flush reasons (enum tlb_flush_reason). */
export const TLB_FLUSH_ON_TASK_SWITCH = 0;
export const TLB_REMOTE_SHOOTDOWN = 1;
export const TLB_LOCAL_SHOOTDOWN = 2;
export const TLB_LOCAL_MM_SHOOTDOWN = 3;
export const TLB_REMOTE_SEND_IPI = 4;
/** tlb_flush pages for a whole-address-space flush. */
export const TLB_FLUSH_ALL = -1;
