/**
 * What code running inside a process sees of it. The contract lives with
 * the kernel's user-visible definitions (kernel/uapi/process.ts); this file
 * is where userspace code imports it from.
 */
export type { UserMemory, UserProcess, UserSyscalls } from "../kernel/uapi/process.ts";
