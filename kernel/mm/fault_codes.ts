/** What a fault came to (memory.ts and huge_memory.ts return these; memory.ts re-exports them). */
export const FAULT_OK = 0;
export const FAULT_MAPERR = 1;
export const FAULT_ACCERR = 2;
export const FAULT_OOM = 3;
/** The access is past the end of the object a shared mapping maps (SIGBUS, BUS_ADRERR). */
export const FAULT_SIGBUS = 4;
