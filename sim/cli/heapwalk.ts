/**
 * Walks a process's malloc heap for the chunk map: first chunk to the top
 * through malloc's own chunk accessors (userspace/malloc/chunk.ts), then the
 * mmapped chunks. Read-only: it loads header words through the process's
 * MMU like a debugger would, and changes nothing.
 */
import type { Process } from "../../kernel/process.ts";
import { FIRST_CHUNK } from "../../userspace/malloc/arena.ts";
import { CHUNK_FREE, head, mmappedSize, NON_MAIN_ARENA, released, sizeOf } from "../../userspace/malloc/chunk.ts";
import { Malloc } from "../../userspace/malloc/malloc.ts";
import type { ChunkInfo } from "./heapmap.ts";

/**
 * Every chunk of p's heap in address order, then its mmapped chunks; []
 * before the first malloc. Throws Error when p's malloc layer is not
 * memsim's (the walk reads memsim's chunk layout).
 */
export function heapChunks(p: Process): ChunkInfo[] {
  const heap = p.libc.heap;
  if (!(heap instanceof Malloc)) throw new Error(`the heap walk reads memsim's malloc; pid ${p.pid} runs the malloc layer '${heap.name}'`);
  const a = heap.arena;
  if (a.base === 0) return [];
  const mem = p.mem;
  const out: ChunkInfo[] = [];
  for (let c = a.base + FIRST_CHUNK; c < a.top; ) {
    const hd = head(mem, c);
    const size = sizeOf(hd);
    if (size === 0) break;
    const free = (hd & CHUNK_FREE) !== 0;
    const note = free ? (released(mem, c) === 1 ? "pages released" : "") : hd & NON_MAIN_ARENA ? "run" : "";
    out.push({ addr: c, size, state: free ? "free" : "used", note });
    c += size;
  }
  out.push({ addr: a.top, size: sizeOf(a.topHead()), state: "top", note: "" });
  for (const c of [...a.mmapped].sort((x, y) => x - y)) {
    out.push({ addr: c, size: mmappedSize(mem, c, head(mem, c)), state: "mmapped", note: "" });
  }
  return out;
}
