/**
 * fstat(2) (Linux fs/stat.c): struct stat in the x86-64 layout, built in the
 * kernel's scratch frame and copied to the user buffer with copy_to_user.
 * Owner and group are 0, the device is 0x800 (sda's 8:0), times are 0
 * (memsim has no wall clock); st_blocks counts 512-byte units.
 */
import { EBADF, EFAULT, ENOMEM } from "../errno.ts";
import { ST_BLKSIZE, ST_BLOCKS, ST_DEV, ST_INO, ST_MODE, ST_NLINK, ST_SIZE, STAT_SIZE } from "../uapi/fcntl.ts";
import { BLOCK_SIZE } from "./blockdev.ts";
import type { FsTask } from "./task.ts";
import { accessOk, copyToUser } from "./uaccess.ts";
import type { Vfs } from "./vfs.ts";

/** fstat(2): 0, -EBADF, -EFAULT when the buffer cannot take 144 bytes, -ENOMEM without a scratch frame. */
export function sysFstat(vfs: Vfs, p: FsTask, fd: number, buf: number): number {
  const f = vfs.table(p.pid).get(fd);
  if (f === null) return -EBADF;
  if (!accessOk(buf, STAT_SIZE)) return -EFAULT;
  const d = vfs.fs.d;
  const at = vfs.scratch();
  if (at < 0) return -ENOMEM;
  const dv = new DataView(p.mem.mmu.phys.buffer, at, STAT_SIZE);
  for (let k = 0; k < STAT_SIZE; k += 4) dv.setUint32(k, 0, true);
  dv.setUint32(ST_DEV, 0x800, true);
  dv.setUint32(ST_INO, f.ino, true);
  dv.setUint32(ST_NLINK, d.nlink(f.ino), true);
  dv.setUint32(ST_MODE, d.mode(f.ino), true);
  dv.setUint32(ST_SIZE, d.size(f.ino), true);
  dv.setUint32(ST_BLKSIZE, BLOCK_SIZE, true);
  dv.setUint32(ST_BLOCKS, vfs.fs.blocksOf(f.ino) * (BLOCK_SIZE / 512), true);
  return copyToUser(p, buf, at, STAT_SIZE) === 0 ? 0 : -EFAULT;
}
