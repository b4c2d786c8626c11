/**
 * The user-visible constants of set_mempolicy, get_mempolicy and mbind, with
 * Linux's names and values (uapi/linux/mempolicy.h). Userspace may import
 * this file; it holds no kernel state.
 */

/** Policy modes. */
export const MPOL_DEFAULT = 0;
export const MPOL_PREFERRED = 1;
export const MPOL_BIND = 2;
export const MPOL_INTERLEAVE = 3;
export const MPOL_LOCAL = 4;

/** Mode flags Linux accepts or'ed into the mode; memsim refuses them (EINVAL; kernel/mm/numa.md). */
export const MPOL_F_STATIC_NODES = 1 << 15;
export const MPOL_F_RELATIVE_NODES = 1 << 14;
export const MPOL_F_NUMA_BALANCING = 1 << 13;

/** get_mempolicy flags. */
export const MPOL_F_NODE = 1 << 0;
export const MPOL_F_ADDR = 1 << 1;
export const MPOL_F_MEMS_ALLOWED = 1 << 2;

/** mbind flags. */
export const MPOL_MF_STRICT = 1 << 0;
export const MPOL_MF_MOVE = 1 << 1;
export const MPOL_MF_MOVE_ALL = 1 << 2;
