/**
 * The models the soak runner drives: every budgeted property test's model
 * (test/property/models/), each a fast-check arbitrary of one story and a
 * function that runs it, throwing at the first disagreement with the model
 * and returning how many commands and checker runs it made. The vitest
 * property tests run the same code for their budget (test/support/budget.ts).
 */

import { ADDRESS_SPACE_MODEL } from "../property/models/as_story.ts";
import { CACHE_MODEL } from "../property/models/cache.ts";
import { COW_MPROTECT_MODEL } from "../property/models/cow_mprotect.ts";
import { EVENTS_MODEL } from "../property/models/events.ts";
import { EXACT_LRU_MODEL } from "../property/models/exact_lru.ts";
import { FILE_MMAP_MODEL } from "../property/models/file_mmap.ts";
import { FILES_MODEL } from "../property/models/files.ts";
import { FORK_MODEL, FORK_SV39_MODEL, FORK_X86_32_MODEL } from "../property/models/fork.ts";
import { FRAMES_MACHINE_MODEL, FRAMES_MODEL } from "../property/models/frames.ts";
import { MALLOC_MODEL } from "../property/models/malloc.ts";
import { MALLOC_FUZZ_MODEL } from "../property/models/malloc_fuzz.ts";
import { MEMCG_MODEL } from "../property/models/memcg.ts";
import { MESH_MODEL } from "../property/models/mesh.ts";
import { PAGE_ALLOC_MODEL } from "../property/models/page_alloc.ts";
import { PERCPU_MODEL } from "../property/models/percpu.ts";
import { PGTABLE_MODEL } from "../property/models/pgtable.ts";
import { RECLAIM_MODEL } from "../property/models/reclaim.ts";
import { SHELL_MODEL } from "../property/models/shell.ts";
import { SLAB_MODEL } from "../property/models/slab.ts";
import { SMP_MODEL } from "../property/models/smp.ts";
import { SWAP_MODEL } from "../property/models/swap.ts";
import { SYSCALL_ARGS_MODEL } from "../property/models/syscall_args.ts";
import { SYSCALLS_MODEL } from "../property/models/syscalls.ts";
import { TEACH_MODEL } from "../property/models/teach.ts";
import { VMALLOC_MODEL } from "../property/models/vmalloc.ts";
import type { PropertyModel } from "../support/budget.ts";

export type SoakModel = PropertyModel<unknown>;

export const SOAK_MODELS: SoakModel[] = [
  ADDRESS_SPACE_MODEL,
  PAGE_ALLOC_MODEL,
  SLAB_MODEL,
  VMALLOC_MODEL,
  PGTABLE_MODEL,
  FRAMES_MODEL,
  FRAMES_MACHINE_MODEL,
  MALLOC_MODEL,
  MALLOC_FUZZ_MODEL,
  FORK_MODEL,
  FORK_SV39_MODEL,
  FORK_X86_32_MODEL,
  COW_MPROTECT_MODEL,
  SYSCALLS_MODEL,
  SYSCALL_ARGS_MODEL,
  EVENTS_MODEL,
  SHELL_MODEL,
  SWAP_MODEL,
  FILES_MODEL,
  SMP_MODEL,
  PERCPU_MODEL,
  CACHE_MODEL,
  FILE_MMAP_MODEL,
  MEMCG_MODEL,
  EXACT_LRU_MODEL,
  RECLAIM_MODEL,
  MESH_MODEL,
  TEACH_MODEL,
] as SoakModel[];
