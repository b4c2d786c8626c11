/**
 * How the slab layer speaks: Linux's slab_debug report blocks, built line by
 * line and handed to printk as one report per BUG block.
 *
 *   =============================================================================
 *   BUG kmalloc-64 (Not tainted): Right Redzone overwritten
 *   -----------------------------------------------------------------------------
 *
 *   INFO: 0xffff888000a43040-0xffff888000a43040 @offset=64. First byte 0x41 instead of 0xcc
 *   INFO: Slab 0xffff888000011a30 objects=... used=... fp=0x... flags=0x...(...)
 *   INFO: Object 0xffff888000a43000 @offset=0 fp=0x...
 *
 *   Redzone  ffff888000a42ff8: cc cc cc cc cc cc cc cc                          ........
 *   Object   ffff888000a43000: 6b 6b 6b ...                                     kkkk...
 *   FIX kmalloc-64: Restoring Right Redzone 0xffff888000a43040-0xffff888000a43040=0xcc
 *
 * The first report leaves the kernel tainted (TAINT_BAD_PAGE), so later ones
 * read "(Tainted: G    B            )" as on Linux. Addresses print unhashed.
 */
import type { Printk } from "../printk.ts";
import { formatVa, PAGE_OFFSET } from "./types.ts";

const FRAME = "=".repeat(77);
const RULE = "-".repeat(77);
/** print_tainted() with only TAINT_BAD_PAGE set: 18 flag columns, B at column 6. */
const TAINTED_B = "Tainted: G    B            ";
/** Where print_hex_dump starts the ASCII column for 16 one-byte groups. */
const ASCII_COLUMN = 49;

/** "0x" and the canonical kernel address of physical address `pa`. */
export function ptrOf(pa: number): string {
  return pa === 0 ? "0x0000000000000000" : `0x${formatVa(PAGE_OFFSET + pa)}`;
}

/** Collects report lines; one BUG block becomes one printk report. */
export class SlabReporter {
  /** TAINT_BAD_PAGE: set by the first slab report. */
  tainted = false;
  /** BUG blocks reported since boot. */
  bugs = 0;
  private kind = "";
  private lines: string[] = [];

  constructor(
    private readonly printk: Printk,
    private readonly mem8: Uint8Array,
  ) {}

  /** Starts a framed "BUG <cache> (<taint>): <what>" block, emitting any pending one first. */
  bug(kind: string, cacheName: string, what: string): void {
    this.flush();
    this.kind = kind;
    this.lines.push(FRAME, `BUG ${cacheName} (${this.tainted ? TAINTED_B : "Not tainted"}): ${what}`, RULE, "");
    this.tainted = true;
    this.bugs++;
  }

  /** Adds a line to the pending block. */
  line(text: string): void {
    this.lines.push(text);
  }

  /** "FIX <cache>: <what>", the remedy, ending the pending block's story. */
  fix(cacheName: string, what: string): void {
    this.lines.push(`FIX ${cacheName}: ${what}`);
  }

  /** A report that is not a framed block (warnings, traces). */
  plain(kind: string, text: string): void {
    this.flush();
    this.printk.report(kind, text);
  }

  /** Emits the pending block, if any. */
  flush(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.join("\n");
    this.lines = [];
    this.printk.report(this.kind, text);
  }

  /**
   * print_hex_dump(DUMP_PREFIX_ADDRESS, 16, 1, ascii): rows of 16 bytes from
   * `pa`, each "<prefix><address>: <hex>  <ascii>".
   */
  hexDump(prefix: string, pa: number, len: number): void {
    const u8 = this.mem8;
    for (let row = 0; row < len; row += 16) {
      const n = Math.min(16, len - row);
      let hex = "";
      let ascii = "";
      for (let j = 0; j < n; j++) {
        const b = u8[pa + row + j] as number;
        hex += (j ? " " : "") + b.toString(16).padStart(2, "0");
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
      }
      this.lines.push(`${prefix}${formatVa(PAGE_OFFSET + pa + row)}: ${hex.padEnd(ASCII_COLUMN, " ")}${ascii}`);
    }
  }

  /**
   * kfree/ksize/kmem_cache_free of an address that is neither a slab object
   * nor a kmalloc-large block: a warning with the page dumped, nothing freed.
   * `pageLines` is null when the address is outside the direct map.
   */
  notSlab(fn: string, kva: number, pageLines: string | null): void {
    const shown = Number.isFinite(kva) && kva >= 0 ? `0x${formatVa(kva)}` : String(kva);
    let text = `WARNING: ${fn}(${shown}): not a slab object or kmalloc allocation`;
    if (pageLines === null) text += "\naddress is outside the direct map";
    else text += `\n${pageLines}\npage dumped because: Not a kmalloc allocation`;
    this.plain("kfree_invalid", text);
  }
}
