/**
 * Slot I/O (Linux mm/page_io.c): a page written to its swap slot and read
 * back. The device is memory, so I/O is a copy; an I/O error comes only
 * from fault injection (`m.faults.failSwapIo`), and then nothing is copied.
 *
 * Calls: the swap device (swapfile.ts) and RAM.
 */
import type { PhysMem } from "./physmem.ts";
import type { SwapDevice } from "./swapfile.ts";

/** swap_writepage: copies frame `pfn` into `slot`. Returns false on an (injected) I/O error. */
export function swapWritePage(phys: PhysMem, dev: SwapDevice, pfn: number, slot: number): boolean {
  if (dev.failIo.armed && dev.failIo.shouldFail(0)) return false;
  const pa = pfn * 4096;
  dev.slotBytes(slot).set(phys.u8.subarray(pa, pa + 4096));
  dev.stats.pswpout++;
  return true;
}

/** swap_read_folio: copies `slot` into frame `pfn`. Returns false on an (injected) I/O error. */
export function swapReadPage(phys: PhysMem, dev: SwapDevice, slot: number, pfn: number): boolean {
  if (dev.failIo.armed && dev.failIo.shouldFail(0)) return false;
  phys.u8.set(dev.slotBytes(slot), pfn * 4096);
  dev.stats.pswpin++;
  return true;
}
