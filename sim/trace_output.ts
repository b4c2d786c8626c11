/**
 * The event stream as text (Linux kernel/trace/trace_output.c): one JSON
 * object per line, or ftrace's `trace` file format, which trace viewers
 * such as Perfetto load:
 *
 *             TASK-PID     CPU# FLAGS  TIMESTAMP: EVENT: FIELDS
 *                p-1       [000] .....     0.000003: mm_page_alloc: page=... pfn=0x1c2 order=0 ...
 *
 * Fields print as the tracepoint's TP_printk does: pointers (%p) as 16 hex
 * digits, pfns as 0x..., gfp masks by name (show_gfp_flags), the tlb_flush
 * reason by name. Kinds with no Linux tracepoint print `field=value`.
 */
import type { EventKind, MemsimEvent } from "../kernel/events_types.ts";
import { formatGfp } from "../kernel/mm/gfp.ts";

/** The header of an ftrace `trace` file (tracer nop, one CPU). */
export const FTRACE_HEADER = `# tracer: nop
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
`;

const TLB_REASONS = ["flush on task switch", "remote shootdown", "local shootdown", "local mm shootdown", "remote ipi send"];

/** %p: the pointer as 16 hex digits, kernel addresses (stored from 2^47) in canonical sign-extended form. */
function ptr(v: number): string {
  return v >= 2 ** 47 ? `ffff${v.toString(16).padStart(12, "0")}` : v.toString(16).padStart(16, "0");
}

/** 0x%lx, with negative values (errors) in decimal. */
function hex(v: number): string {
  return v < 0 ? String(v) : `0x${v.toString(16)}`;
}

/** show_gfp_flags. */
function gfp(v: number): string {
  return v === 0 ? "none" : formatGfp(v);
}

/** %pS of a call site: its label, or 0x0 when the caller gave none. */
function site(label: string): string {
  return label === "" ? "0x0" : label;
}

type Printer = (e: never) => string;

/** TP_printk of each kind. */
const PRINTERS: { [K in EventKind]: (e: Extract<MemsimEvent, { kind: K }>) => string } = {
  mm_page_alloc: (e) =>
    `page=${ptr(e.page)} pfn=0x${Math.max(e.pfn, 0).toString(16)} order=${e.order} migratetype=${e.migratetype} gfp_flags=${gfp(e.gfp_flags)}`,
  mm_page_free: (e) => `page=${ptr(e.page)} pfn=0x${e.pfn.toString(16)} order=${e.order}`,
  mm_buddy_split: (e) => `pfn=0x${e.pfn.toString(16)} order=${e.order} buddy=0x${e.buddy.toString(16)}`,
  mm_buddy_merge: (e) => `pfn=0x${e.pfn.toString(16)} order=${e.order} buddy=0x${e.buddy.toString(16)}`,
  kmalloc: (e) =>
    `call_site=${site(e.call_site)} ptr=${ptr(e.ptr)} bytes_req=${e.bytes_req} bytes_alloc=${e.bytes_alloc} gfp_flags=${gfp(e.gfp_flags)} node=${e.node} accounted=${e.accounted}`,
  kfree: (e) => `call_site=${site(e.call_site)} ptr=${ptr(e.ptr)}`,
  kmem_cache_alloc: (e) =>
    `call_site=${site(e.call_site)} ptr=${ptr(e.ptr)} bytes_req=${e.bytes_req} bytes_alloc=${e.bytes_alloc} gfp_flags=${gfp(e.gfp_flags)} node=${e.node} accounted=${e.accounted}`,
  kmem_cache_free: (e) => `call_site=${site(e.call_site)} ptr=${ptr(e.ptr)} name=${e.name}`,
  page_fault_user: (e) =>
    `address=0x${e.address.toString(16)} ip=0x${e.ip.toString(16)} error_code=0x${e.error_code.toString(16)} outcome=${e.outcome} stack_growth=${e.stack_growth ? 1 : 0} si_code=${e.si_code}`,
  tlb_flush: (e) => `pages:${e.pages} reason:${TLB_REASONS[e.reason] ?? "unknown"} (${e.reason})`,
  brk: (e) => `brk=${hex(e.brk)} ret=${hex(e.ret)}`,
  mmap: (e) =>
    `addr=${hex(e.addr)} len=${hex(e.len)} prot=${hex(e.prot)} flags=${hex(e.flags)} fd=${e.fd} off=${hex(e.off)} ret=${hex(e.ret)}`,
  munmap: (e) => `addr=${hex(e.addr)} len=${hex(e.len)} ret=${hex(e.ret)}`,
  mprotect: (e) => `start=${hex(e.start)} len=${hex(e.len)} prot=${hex(e.prot)} ret=${hex(e.ret)}`,
  mremap: (e) =>
    `addr=${hex(e.addr)} old_len=${hex(e.old_len)} new_len=${hex(e.new_len)} flags=${hex(e.flags)} new_addr=${hex(e.new_addr)} ret=${hex(e.ret)}`,
  madvise: (e) => `start=${hex(e.start)} len_in=${hex(e.len_in)} behavior=${e.behavior} ret=${hex(e.ret)}`,
  vm_enough_memory: (e) => `pages=${e.pages} ret=${e.ret} committed=${e.committed}`,
  vm_unacct_memory: (e) => `pages=${e.pages} committed=${e.committed}`,
  task_newtask: (e) => `pid=${e.pid} comm=${e.comm} clone_flags=${e.clone_flags.toString(16)} oom_score_adj=${e.oom_score_adj}`,
  sched_process_fork: (e) => `comm=${e.parent_comm} pid=${e.parent_pid} child_comm=${e.child_comm} child_pid=${e.child_pid}`,
  sched_process_exit: (e) => `comm=${e.comm} pid=${e.pid} prio=${e.prio}`,
  signal_generate: (e) => `sig=${e.sig} errno=${e.errno} code=${e.code} comm=${e.comm} pid=${e.pid} grp=${e.grp} res=${e.res}`,
  signal_deliver: (e) =>
    `sig=${e.sig} errno=${e.errno} code=${e.code} sa_handler=${e.sa_handler.toString(16)} sa_flags=${e.sa_flags.toString(16)}`,
  vmalloc: (e) => `call_site=${site(e.call_site)} addr=${ptr(e.addr)} size=${e.size} nr_pages=${e.nr_pages} gfp_flags=${gfp(e.gfp_flags)}`,
  vfree: (e) => `addr=${ptr(e.addr)} nr_pages=${e.nr_pages}`,
};

/** The fields of one event as its tracepoint prints them. */
export function formatEventFields(e: MemsimEvent): string {
  return (PRINTERS[e.kind] as Printer)(e as never);
}

/** One event as a line of an ftrace `trace` file, without the newline. */
export function formatFtraceLine(e: MemsimEvent): string {
  // The kernel prints pid 0 as <idle>; comm is at most 15 characters (TASK_COMM_LEN).
  const comm = e.common_pid === 0 ? "<idle>" : e.common_comm.slice(0, 15);
  const usecs = Math.floor(e.ts / 1000);
  const secs = Math.floor(usecs / 1e6);
  const frac = String(usecs % 1e6).padStart(6, "0");
  const task = `${comm.padStart(16)}-${String(e.common_pid).padEnd(7)}`;
  const cpu = String(e.cpu).padStart(3, "0");
  return `${task} [${cpu}] ..... ${String(secs).padStart(5)}.${frac}: ${e.kind}: ${formatEventFields(e)}`;
}

/** One event as a JSON line, without the newline (keys: seq, ts, clock_ns, cpu, common_pid, common_comm, kind, then the fields). */
export function formatEventJson(e: MemsimEvent): string {
  return JSON.stringify(e);
}
