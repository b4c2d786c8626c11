/**
 * <string.h> over a process's memory: every byte goes through the MMU
 * (UserMemory), one page-sized piece per bulk call, so a fault hits the
 * page it names and no call spans two pages.
 *
 * Words: piece = the bytes of one call, never crossing a page boundary of
 * the source or the destination.
 */
import type { UserMemory } from "../env.ts";

const PAGE = 4096;

/** Bytes from `va` to the end of its page. */
function toPageEnd(va: number): number {
  return PAGE - (va % PAGE);
}

/** memset(3): sets `n` bytes at `s` to `c & 0xff`. Returns `s`. */
export function memset(mem: UserMemory, s: number, c: number, n: number): number {
  for (let done = 0; done < n; ) {
    const len = Math.min(toPageEnd(s + done), n - done);
    mem.fill(s + done, c & 0xff, len);
    done += len;
  }
  return s;
}

/** memcpy(3): copies `n` bytes from `src` to `dst`, front to back. Returns `dst`. */
export function memcpy(mem: UserMemory, dst: number, src: number, n: number): number {
  for (let done = 0; done < n; ) {
    const len = Math.min(toPageEnd(dst + done), toPageEnd(src + done), n - done);
    mem.copy(dst + done, src + done, len);
    done += len;
  }
  return dst;
}

/** memmove(3): like memcpy, correct when the areas overlap. Returns `dst`. */
export function memmove(mem: UserMemory, dst: number, src: number, n: number): number {
  if (dst <= src || dst >= src + n) return memcpy(mem, dst, src, n);
  // Overlap with dst above src: copy back to front, pieces ending at page ends.
  for (let left = n; left > 0; ) {
    const dEnd = dst + left;
    const sEnd = src + left;
    const len = Math.min(dEnd % PAGE || PAGE, sEnd % PAGE || PAGE, left);
    mem.copy(dEnd - len, sEnd - len, len);
    left -= len;
  }
  return dst;
}

/**
 * memcmp(3): compares `n` bytes. Returns 0 when equal, otherwise the
 * difference of the first differing bytes as unsigned chars.
 */
export function memcmp(mem: UserMemory, a: number, b: number, n: number): number {
  for (let done = 0; done < n; ) {
    const len = Math.min(toPageEnd(a + done), toPageEnd(b + done), n - done);
    const x = mem.read(a + done, len);
    const y = mem.read(b + done, len);
    for (let i = 0; i < len; i++) {
      const d = (x[i] as number) - (y[i] as number);
      if (d !== 0) return d;
    }
    done += len;
  }
  return 0;
}

/** strlen(3): bytes before the first NUL at `s`, reading page by page. */
export function strlen(mem: UserMemory, s: number): number {
  for (let done = 0; ; ) {
    const piece = mem.read(s + done, toPageEnd(s + done));
    const nul = piece.indexOf(0);
    if (nul >= 0) return done + nul;
    done += piece.length;
  }
}
