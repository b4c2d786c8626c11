/**
 * /proc/meminfo in Linux 6.x's order and format: the key padded to 16
 * characters (colon included), the value right-aligned in 8, then " kB".
 * Values come in kB from the layers that own them; a field no layer fills
 * yet prints 0, as it does on a Linux build without that feature.
 */

/** The meminfo fields memsim prints, in Linux's order. Values are kB unless noted. */
export const MEMINFO_FIELDS = [
  "MemTotal",
  "MemFree",
  "MemAvailable",
  "Buffers",
  "Cached",
  "SwapCached",
  "Active",
  "Inactive",
  "Active(anon)",
  "Inactive(anon)",
  "Active(file)",
  "Inactive(file)",
  "Unevictable",
  "Mlocked",
  "SwapTotal",
  "SwapFree",
  "Zswap",
  "Zswapped",
  "Dirty",
  "Writeback",
  "AnonPages",
  "Mapped",
  "Shmem",
  "KReclaimable",
  "Slab",
  "SReclaimable",
  "SUnreclaim",
  "KernelStack",
  "PageTables",
  "SecPageTables",
  "NFS_Unstable",
  "Bounce",
  "WritebackTmp",
  "CommitLimit",
  "Committed_AS",
  "VmallocTotal",
  "VmallocUsed",
  "VmallocChunk",
  "Percpu",
  "HardwareCorrupted",
  "AnonHugePages",
  "ShmemHugePages",
  "ShmemPmdMapped",
  "FileHugePages",
  "FilePmdMapped",
  "HugePages_Total",
  "HugePages_Free",
  "HugePages_Rsvd",
  "HugePages_Surp",
  "Hugepagesize",
  "Hugetlb",
  "DirectMap4k",
  "DirectMap2M",
  "DirectMap1G",
] as const;

export type MeminfoField = (typeof MEMINFO_FIELDS)[number];
export type MeminfoValues = Partial<Record<MeminfoField, number>>;

/** Renders the file from values in kB (HugePages_* are counts). */
export function renderMeminfo(v: MeminfoValues): string {
  let out = "";
  for (const key of MEMINFO_FIELDS) {
    const val = v[key] ?? 0;
    if (key.startsWith("HugePages_")) {
      out += `${`${key}:`.padEnd(16)}${String(val).padStart(8)}\n`;
    } else if (key === "HardwareCorrupted") {
      out += `HardwareCorrupted: ${String(val).padStart(5)} kB\n`;
    } else {
      out += `${`${key}:`.padEnd(16)}${String(val).padStart(8)} kB\n`;
    }
  }
  return out;
}

/** Parses meminfo text back into numbers (for tests and tools). */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^([^:]+):\s+(\d+)/.exec(line);
    if (m) out[m[1] as string] = Number(m[2]);
  }
  return out;
}
