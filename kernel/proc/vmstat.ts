/** /proc/vmstat: one `name value` line per counter, in the order the layers give them. */
export function renderVmstat(rows: ReadonlyArray<readonly [string, number]>): string {
  let out = "";
  for (const [k, v] of rows) out += `${k} ${v}\n`;
  return out;
}
