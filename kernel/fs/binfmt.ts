/**
 * memsim executables (in the spirit of Linux fs/binfmt_elf.c for a static,
 * non-PIE binary): a one-page header, the text and the data, each starting
 * on a page boundary of the file so that they can be mapped from it. The
 * loader maps them as the ELF loader would, through the process's own mmap:
 * text private r-x from the file, data private rw- from the file, bss
 * anonymous rw-, and puts the heap right after the bss. Nothing executes:
 * `entry` is recorded and checked to lie inside the text.
 *
 *   file offset 0         4096                 4096 + T            4096 + T + D
 *   +--------------------+--------------------+--------------------+
 *   | header (one page)  | text, padded with  | data, padded with  |
 *   | magic "MSX\x01"    | zeros to a page: T | zeros to a page: D |
 *   | u32 text bytes     | bytes              | bytes              |
 *   | u32 data bytes     |                    |                    |
 *   | u32 bss bytes      |                    |                    |
 *   | u32 entry (offset  |                    |                    |
 *   |     in the text)   |                    |                    |
 *   +--------------------+--------------------+--------------------+
 *   header words are little-endian u32 at offsets 0, 4, 8, 12, 16; the rest
 *   of the page is zero.
 *
 *   memory: 0x400000 text r-xp (file offset 0x1000), then data rw-p (file
 *   offset 0x1000 + T), then bss rw-p anonymous (the part past the data's
 *   last page; the tail of that page reads as the file's zero padding),
 *   then [heap] from the page after the bss.
 */
import { EACCES, EINVAL, ENOEXEC } from "../errno.ts";
import type { MmStruct } from "../mm/mm.ts";
import { O_RDONLY } from "../uapi/fcntl.ts";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from "../uapi/mman.ts";

/** "MSX" and format version 1, as a little-endian u32. */
export const EXEC_MAGIC = 0x0158534d;
/** Where the text is mapped (x86-64's traditional static base). */
export const TEXT_BASE = 0x400000;
const PAGE = 4096;
const HEADER_WORDS = 5;

/** What a program is made of (the host-side builder's input). */
export interface ExecutableImage {
  /** The instructions' bytes (mapped read-execute). */
  readonly text: Uint8Array;
  /** Initialised data (mapped private and writable). */
  readonly data: Uint8Array;
  /** Zero-initialised data after it. */
  readonly bssBytes: number;
  /** The entry point, as an offset in the text. */
  readonly entry: number;
}

const pageUp = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** The bytes of an executable file for `img`. Throws RangeError for sizes that do not fit a u32 or an entry outside the text. */
export function buildExecutable(img: ExecutableImage): Uint8Array {
  const { text, data, bssBytes, entry } = img;
  for (const n of [text.length, data.length, bssBytes, entry]) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`executable: size ${n} is not a u32`);
  }
  if (text.length === 0 || entry >= text.length) throw new RangeError(`executable: entry ${entry} outside a text of ${text.length} bytes`);
  const out = new Uint8Array(PAGE + pageUp(text.length) + pageUp(data.length));
  const h = new DataView(out.buffer);
  const words = [EXEC_MAGIC, text.length, data.length, bssBytes, entry];
  for (let i = 0; i < HEADER_WORDS; i++) h.setUint32(i * 4, words[i] as number, true);
  out.set(text, PAGE);
  out.set(data, PAGE + pageUp(text.length));
  return out;
}

/** The header of an executable: its sizes, or -ENOEXEC when the bytes are not one. */
export function parseHeader(bytes: Uint8Array): ExecHeader | number {
  if (bytes.length < PAGE) return -ENOEXEC;
  const h = new DataView(bytes.buffer, bytes.byteOffset, PAGE);
  if (h.getUint32(0, true) !== EXEC_MAGIC) return -ENOEXEC;
  const textBytes = h.getUint32(4, true);
  const dataBytes = h.getUint32(8, true);
  const bssBytes = h.getUint32(12, true);
  const entry = h.getUint32(16, true);
  if (textBytes === 0 || entry >= textBytes) return -ENOEXEC;
  // The text and data must be in the file (a short file would map pages past its end).
  if (bytes.length < PAGE + pageUp(textBytes) + dataBytes) return -ENOEXEC;
  return { textBytes, dataBytes, bssBytes, entry };
}

/** An executable's header fields. */
export interface ExecHeader {
  readonly textBytes: number;
  readonly dataBytes: number;
  readonly bssBytes: number;
  readonly entry: number;
}

/** What the loader needs of a fresh process: its syscalls and its mm (for the break). */
export interface ExecTarget {
  readonly mm: MmStruct;
  readonly sys: {
    open(path: string, flags: number): number;
    close(fd: number): number;
    mmap(addr: number, len: number, prot: number, flags: number, fd?: number, off?: number): number;
  };
}

/**
 * load_elf_binary, reduced: maps `header`'s program from the file at
 * `path` into `p` (a process with no mappings but its stack) and moves the
 * break after the bss. Returns the entry address, or -errno (the open's,
 * EACCES for a file that cannot be mapped, or the mmap's).
 */
export function loadExecutable(p: ExecTarget, path: string, header: ExecHeader): number {
  const fd = p.sys.open(path, O_RDONLY);
  if (fd < 0) return fd;
  const r = mapSegments(p, fd, header);
  p.sys.close(fd);
  if (r < 0) return r === -EINVAL ? -EACCES : r;
  return TEXT_BASE + header.entry;
}

function mapSegments(p: ExecTarget, fd: number, h: ExecHeader): number {
  const textLen = pageUp(h.textBytes);
  let at = p.sys.mmap(TEXT_BASE, textLen, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, PAGE);
  if (at < 0) return at;
  let end = TEXT_BASE + textLen;
  if (h.dataBytes > 0) {
    const dataLen = pageUp(h.dataBytes);
    at = p.sys.mmap(end, dataLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, PAGE + textLen);
    if (at < 0) return at;
    end += dataLen;
  }
  // The bss past the data's last page is anonymous memory (set_brk in the ELF loader).
  const bssEnd = pageUp(TEXT_BASE + textLen + h.dataBytes + h.bssBytes);
  if (bssEnd > end) {
    at = p.sys.mmap(end, bssEnd - end, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (at < 0) return at;
    end = bssEnd;
  }
  p.mm.startBrk = end;
  p.mm.brk = end;
  return 0;
}
