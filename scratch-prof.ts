import { timeIt } from "./sim/bench/harness.ts";
import { Machine } from "./sim/index.ts";

let sink = 0;
const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
const mem = m.kernel.mem;
const kva0 = m.kernel.pfnToKva(0);
const which = process.argv[2];
if (which === "miss") {
  const ms = timeIt(
    (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(kva0 + (i & 4095) * 4096);
      sink ^= x;
    },
    2_000_000,
    10,
  );
  console.log(`miss ${ms.toFixed(1)}`);
} else if (which === "umiss") {
  const k = m.kernel;
  const pt = k.paging.pgdAlloc()!;
  const pfn = k.allocPages(0)!;
  for (let i = 0; i < 1024; i++) pt.mapRange(0x400000 + i * 4096, pfn, 1, 0x80000005);
  const um = k.mmu.view(pt, "user");
  const ms = timeIt(
    (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= um.read32(0x400000 + (i & 1023) * 4096);
      sink ^= x;
    },
    2_000_000,
    10,
  );
  console.log(`umiss ${ms.toFixed(1)}`);
  const mmu = k.mmu;
  const pk = timeIt(
    (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mmu.peek(pt, 0x400000 + (i & 1023) * 4096);
      sink ^= x;
    },
    2_000_000,
    10,
  );
  console.log(`peek ${pk.toFixed(1)}`);
  const tlb = k.mmu.tlb;
  const ins = timeIt(
    (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= tlb.insert(0x400000 + (i & 1023) * 4096, 1, 4096, 6);
      sink ^= x;
    },
    2_000_000,
    10,
  );
  console.log(`insert ${ins.toFixed(1)}`);
  const tr = timeIt(
    (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mmu.translate(pt, 0x400000 + (i & 1023) * 4096, 4);
      sink ^= x;
    },
    2_000_000,
    10,
  );
  console.log(`translate ${tr.toFixed(1)}`);
} else {
  const k = m.kernel;
  for (let i = 0; i < 64; i++) k.vmalloc(4096 * (1 + (i % 7)));
  const ms = timeIt(
    (ops) => {
      for (let i = 0; i < ops; i++) {
        const kva = k.vmalloc(4096 * (1 + (i & 3)));
        k.vfree(kva);
      }
    },
    500_000,
    10,
  );
  console.log(`vmalloc ${ms.toFixed(1)}`);
}
if (sink === 0.5) console.log("");
