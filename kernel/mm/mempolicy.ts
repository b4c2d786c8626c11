/**
 * NUMA memory policies (Linux mm/mempolicy.c): set_mempolicy,
 * get_mempolicy and mbind, and the node a demand fault takes its page from.
 *
 * A policy is one 32-bit word, 0 for MPOL_DEFAULT:
 *
 *   31        16 15       8 7        0
 *   +----------+----------+----------+
 *   |    0     | nodemask |   mode   |
 *   +----------+----------+----------+
 *
 * The task policy is MmStruct.mempolicy; a VMA's own (mbind) is kept by
 * VmaOps (vma.ts), which copies it on split and dup and merges only equal
 * ones. A fault takes the VMA's policy, else the task's (mempolicy_alloc.ts):
 *
 *   default / local  the running CPU's node first (allocPages)
 *   preferred N      node N first, then N's fallback order
 *   bind mask        the running CPU's zonelist, only nodes of the mask
 *   interleave mask  node number (ilx mod weight) of the mask, where
 *                    ilx = vm_pgoff + (addr - vm_start) / 4096 (Linux's
 *                    offset-based interleave), then its fallback order
 *
 * Differences from Linux, all in kernel/mm/numa.md: the mode flags
 * (MPOL_F_STATIC_NODES, _RELATIVE_NODES, _NUMA_BALANCING) and the modes
 * MPOL_PREFERRED_MANY and MPOL_WEIGHTED_INTERLEAVE are refused with EINVAL;
 * a nodemask is read as its first `maxnode` bits (the man page's meaning).
 */
import { EFAULT, EINVAL, EIO, ENOMEM, EPERM } from "../errno.ts";
import {
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_F_ADDR,
  MPOL_F_MEMS_ALLOWED,
  MPOL_F_NODE,
  MPOL_INTERLEAVE,
  MPOL_LOCAL,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  MPOL_PREFERRED,
} from "../uapi/mempolicy.ts";
import type { MmStruct } from "./mm.ts";
import { MAX_NUMNODES, type NumaTopology } from "./numa.ts";
import type { VmaOps } from "./vma.ts";

/** The mode of a policy word. */
export function mpolMode(word: number): number {
  return word & 0xff;
}

/** The node mask of a policy word. */
export function mpolNodes(word: number): number {
  return (word >>> 8) & 0xff;
}

function mpolWord(mode: number, mask: number): number {
  return (mode | (mask << 8)) >>> 0;
}

/** The lowest node of a non-empty mask. */
export function firstNode(mask: number): number {
  return 31 - Math.clz32(mask & -mask);
}

/** Node number `n` (0-based) of `mask`, counting set bits from the lowest. */
function nthNode(mask: number, n: number): number {
  let m = mask;
  for (let i = 0; i < n; i++) m &= m - 1;
  return firstNode(m);
}

function weight(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
}

/**
 * The node an interleave policy gives the page at `addr` of `vma`
 * (offset_il_node): ilx = vm_pgoff + page index in the VMA; node number
 * ilx mod weight(mask) of the mask.
 */
export function interleaveNode(vmas: VmaOps, vma: number, addr: number, mask: number): number {
  const ilx = vmas.f.pgoff(vma) + Math.floor((addr - vmas.f.start(vma)) / 4096);
  return nthNode(mask, ilx % weight(mask));
}

/**
 * Whether `word` is a policy the syscalls can make (the mm checker's MM-9):
 * 0; local with no nodes; preferred with one node; bind or interleave with
 * at least one; every node below `nrNodes`.
 */
export function policyOk(word: number, nrNodes: number): boolean {
  const mask = mpolNodes(word);
  if (word >>> 16 !== 0 || mask >>> nrNodes !== 0) return false;
  switch (mpolMode(word)) {
    case MPOL_DEFAULT:
      return word === 0;
    case MPOL_LOCAL:
      return mask === 0;
    case MPOL_PREFERRED:
      return weight(mask) === 1;
    case MPOL_BIND:
    case MPOL_INTERLEAVE:
      return mask !== 0;
    default:
      return false;
  }
}

/** A node list as Linux prints one ("%*pbl"): ranges "0-2", singles "0,2". */
export function nodelist(mask: number): string {
  const out: string[] = [];
  for (let n = 0; n < 32; n++) {
    if (((mask >>> n) & 1) === 0) continue;
    let e = n;
    while (e + 1 < 32 && ((mask >>> (e + 1)) & 1) !== 0) e++;
    out.push(e === n ? `${n}` : `${n}-${e}`);
    n = e;
  }
  return out.join(",");
}

/** mpol_to_str: "default", "local", "prefer:N", "bind:LIST", "interleave:LIST". */
export function mpolToStr(word: number): string {
  const mask = mpolNodes(word);
  switch (mpolMode(word)) {
    case MPOL_LOCAL:
      return "local";
    case MPOL_PREFERRED:
      return `prefer:${nodelist(mask)}`;
    case MPOL_BIND:
      return `bind:${nodelist(mask)}`;
    case MPOL_INTERLEAVE:
      return `interleave:${nodelist(mask)}`;
    default:
      return "default";
  }
}

/** The 32-bit words of user memory the syscalls read and write. */
export interface PolicyUserAccess {
  /** The word at user `va`, or -1 when it cannot be read. */
  read32(va: number): number;
  /** Stores `v` at user `va`; false when it cannot be written. */
  write32(va: number, v: number): boolean;
  /** The node of the frame mapped at `va` (faulted in for reading), or -1 when it cannot be had. */
  nodeAt(va: number): number;
}

/** The page walks mbind's MPOL_MF_STRICT and MPOL_MF_MOVE make (mempolicy_alloc.ts MemPolicy). */
export interface PolicyPages {
  /** Whether a present page of [start, end) is on a node outside `allowed`. */
  misplaced(mm: MmStruct, start: number, end: number, allowed: number): boolean;
  /** Moves such pages where their policy places them; returns how many stayed. */
  movePages(mm: MmStruct, start: number, end: number, allowed: number): number;
}

/** What the syscalls act on: the machine's nodes and VMAs, the running CPU's node. */
export interface PolicyContext {
  readonly numa: NumaTopology;
  readonly vmas: VmaOps;
  /** The node of the running CPU (numa_node_id). */
  localNode(): number;
}

/** Mode values the syscalls take (sanitize_mpol_flags); anything else, mode flags included, is EINVAL. */
function modeOk(mode: number): boolean {
  return Number.isInteger(mode) && mode >= MPOL_DEFAULT && mode <= MPOL_LOCAL;
}

/**
 * get_nodes: the node mask at user `nmask`, its first `maxnode` bits.
 * Returns the mask of existing nodes, with bit 8 set when the user's mask
 * named any node; -EINVAL for maxnode past a page of bits or a node past
 * MAX_NUMNODES, -EFAULT when the mask cannot be read.
 */
function getNodes(ctx: PolicyContext, user: PolicyUserAccess, nmask: number, maxnode: number): number {
  if (!Number.isSafeInteger(maxnode) || maxnode < 0 || !Number.isSafeInteger(nmask)) return -EINVAL;
  if (maxnode === 0 || nmask === 0) return 0;
  if (maxnode > 4096 * 8) return -EINVAL;
  let raw = 0;
  for (let i = 0; i * 32 < maxnode; i++) {
    const bits = Math.min(32, maxnode - i * 32);
    const v = user.read32(nmask + 4 * i);
    if (v < 0) return -EFAULT;
    const w = bits === 32 ? v : v & ((1 << bits) - 1);
    if (i === 0) raw = w >>> 0;
    else if (w !== 0) return -EINVAL;
  }
  if (raw >>> MAX_NUMNODES !== 0) return -EINVAL;
  const mask = raw & ((1 << ctx.numa.nrNodes) - 1);
  return mask | (raw !== 0 ? 0x100 : 0);
}

/** mpol_new: the policy word for `mode` and the mask getNodes read, or -EINVAL. */
function mpolNew(mode: number, nodes: number): number {
  const named = (nodes & 0x100) !== 0;
  const mask = nodes & 0xff;
  switch (mode) {
    case MPOL_DEFAULT:
      return named ? -EINVAL : 0;
    case MPOL_LOCAL:
      return named ? -EINVAL : mpolWord(MPOL_LOCAL, 0);
    case MPOL_PREFERRED:
      if (!named) return mpolWord(MPOL_LOCAL, 0);
      return mask === 0 ? -EINVAL : mpolWord(MPOL_PREFERRED, 1 << firstNode(mask));
    default:
      return mask === 0 ? -EINVAL : mpolWord(mode, mask);
  }
}

/** The mode and mask a syscall was given, as a policy word, or -errno. */
function policyFrom(ctx: PolicyContext, user: PolicyUserAccess, mode: number, nmask: number, maxnode: number): number {
  if (!modeOk(mode)) return -EINVAL;
  const nodes = getNodes(ctx, user, nmask, maxnode);
  if (nodes < 0) return nodes;
  return mpolNew(mode, nodes);
}

/**
 * set_mempolicy(mode, nmask, maxnode): the task policy of `mm`. Returns 0,
 * -EINVAL (bad mode, mode flags, a mask empty for bind/interleave or naming
 * nodes for default/local, maxnode past a page of bits), -EFAULT (the mask
 * cannot be read).
 */
export function sysSetMempolicy(
  ctx: PolicyContext,
  user: PolicyUserAccess,
  mm: MmStruct,
  mode: number,
  nmask: number,
  maxnode: number,
): number {
  const word = policyFrom(ctx, user, mode, nmask, maxnode);
  if (word < 0) return word;
  mm.mempolicy = word;
  return 0;
}

/**
 * get_mempolicy(policy, nmask, maxnode, addr, flags): writes the mode (or
 * with MPOL_F_NODE a node) at `policy` and the node mask at `nmask` (each
 * when non-zero). Returns 0, -EINVAL (unknown flags, MPOL_F_MEMS_ALLOWED
 * with another flag, addr without MPOL_F_ADDR, MPOL_F_NODE alone on a
 * policy other than the task's interleave, maxnode below the node count),
 * -EFAULT (addr in no VMA, or a user word that cannot be written).
 */
export function sysGetMempolicy(
  ctx: PolicyContext,
  user: PolicyUserAccess,
  mm: MmStruct,
  policy: number,
  nmask: number,
  maxnode: number,
  addr: number,
  flags: number,
): number {
  if (nmask !== 0 && !(maxnode >= ctx.numa.nrNodes)) return -EINVAL;
  if (!Number.isInteger(flags) || (flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED)) !== 0) return -EINVAL;
  let mode: number;
  let mask: number;
  if (flags & MPOL_F_MEMS_ALLOWED) {
    if (flags & (MPOL_F_NODE | MPOL_F_ADDR)) return -EINVAL;
    mode = MPOL_DEFAULT;
    mask = (1 << ctx.numa.nrNodes) - 1;
  } else {
    let word = mm.mempolicy;
    if (flags & MPOL_F_ADDR) {
      const vma = ctx.vmas.lookup(mm, addr);
      if (vma === 0) return -EFAULT;
      word = ctx.vmas.policy(vma) || mm.mempolicy;
    } else if (addr !== 0) return -EINVAL;
    mode = mpolMode(word);
    mask = mpolNodes(word);
    if (flags & MPOL_F_NODE) {
      if (flags & MPOL_F_ADDR) mode = user.nodeAt(addr);
      else if (word === mm.mempolicy && mode === MPOL_INTERLEAVE) mode = firstNode(mask);
      else return -EINVAL;
      if (mode < 0) return -EFAULT;
    }
  }
  if (policy !== 0 && !user.write32(policy, mode)) return -EFAULT;
  return nmask === 0 ? 0 : putNodes(user, nmask, maxnode, mask);
}

/** copy_nodes_to_user: the mask in the first word, zeros up to maxnode bits (whole 64-bit words). */
function putNodes(user: PolicyUserAccess, nmask: number, maxnode: number, mask: number): number {
  const words = Math.ceil(maxnode / 64) * 2;
  if (words * 4 > 4096) return -EINVAL;
  for (let i = 0; i < words; i++) if (!user.write32(nmask + 4 * i, i === 0 ? mask : 0)) return -EFAULT;
  return 0;
}

/** The mbind flags memsim knows (MPOL_MF_VALID). */
const MF_VALID = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL;

/**
 * mbind(start, len, mode, nmask, maxnode, flags): the policy of every VMA
 * of [start, start + len), split at the ends and merged with equal
 * neighbours. MPOL_DEFAULT removes the VMAs' own policies. With
 * MPOL_MF_STRICT, a page already present on a node the policy does not
 * allow fails the call with EIO (after the policy is set, as Linux).
 * Returns 0, -EINVAL (bad mode, flags, mask, or start not page aligned, or
 * the range wrapping), -EPERM (MPOL_MF_MOVE_ALL: memsim processes have no
 * CAP_SYS_NICE), -EFAULT (a hole in the range, or the mask cannot be
 * read), -ENOMEM (a split refused), -EIO.
 */
export function sysMbind(
  ctx: PolicyContext,
  user: PolicyUserAccess,
  mm: MmStruct,
  range: { start: number; len: number },
  mode: number,
  nmask: number,
  maxnode: number,
  flags: number,
  pol: PolicyPages,
): number {
  if (!modeOk(mode)) return -EINVAL;
  const nodes = getNodes(ctx, user, nmask, maxnode);
  if (nodes < 0) return nodes;
  if (!Number.isInteger(flags) || (flags & ~MF_VALID) !== 0) return -EINVAL;
  if (flags & MPOL_MF_MOVE_ALL) return -EPERM;
  const { start, len } = range;
  if (!Number.isSafeInteger(start) || start < 0 || start % 4096 !== 0 || !Number.isSafeInteger(len) || len < 0) return -EINVAL;
  const end = start + Math.ceil(len / 4096) * 4096;
  if (end === start) return 0;
  const word = mpolNew(mode, nodes);
  if (word < 0) return word;
  const r = applyRange(ctx.vmas, mm, start, end, word);
  if (r < 0) return r;
  if (mode === MPOL_DEFAULT || mpolMode(word) === MPOL_LOCAL) return 0;
  const allowed = mpolNodes(word);
  if (flags & MPOL_MF_MOVE) {
    const stuck = pol.movePages(mm, start, end, allowed);
    return stuck > 0 && flags & MPOL_MF_STRICT ? -EIO : 0;
  }
  return flags & MPOL_MF_STRICT && pol.misplaced(mm, start, end, allowed) ? -EIO : 0;
}

/** mbind_range: every VMA of [start, end) gets `word`; -EFAULT at a hole (checked before anything changes), -ENOMEM when a split is refused. */
function applyRange(vmas: VmaOps, mm: MmStruct, start: number, end: number, word: number): number {
  const f = vmas.f;
  for (let at = start; at < end; ) {
    const v = vmas.findVma(mm, at);
    if (v === 0 || f.start(v) > at) return -EFAULT;
    at = f.end(v);
  }
  for (let at = start; at < end; ) {
    let vma = vmas.findVma(mm, at);
    const stop = Math.min(end, f.end(vma));
    if (vmas.policy(vma) !== word) {
      vma = vmas.isolate(mm, vma, at, stop);
      if (vma === 0) return -ENOMEM;
      vmas.setPolicy(vma, word);
      vma = vmas.mergeAround(mm, vma);
    }
    at = Math.max(stop, f.end(vma));
  }
  return 0;
}
