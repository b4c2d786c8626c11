/**
 * The HTML report in a real headless Chromium (Debian's package, installed
 * with apt when missing: downloaded browser builds cannot work here): no
 * console errors, one SVG rect per RAM block, a tooltip on hover, the same
 * page when served from 127.0.0.1, and a screenshot under out/.
 */
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveReport } from "../../../sim/cli/report/report.ts";
import { memsim, ROOT } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const OUT = join(ROOT, "out");
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Installs Debian's chromium when it is missing (the test machine is root with apt). */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  execSync("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium", { stdio: "pipe", timeout: 900_000 });
}

let ctx: BrowserContext;
let userDir: string;

beforeAll(async () => {
  ensureChromium();
  mkdirSync(OUT, { recursive: true });
  userDir = mkdtempSync(join(tmpdir(), "memsim-chromium-"));
  // Playwright passes the fresh --user-data-dir itself for a persistent context.
  ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
  });
}, 900_000);

afterAll(async () => {
  await ctx?.close();
  if (userDir) rmSync(userDir, { recursive: true, force: true });
});

/** Opens a page and collects its console errors and uncaught exceptions. */
async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors };
}

async function blockCount(args: string[]): Promise<number> {
  const r = await memsim(["report", "--json", ...args]);
  return (JSON.parse(r.out) as { blocks: unknown[] }).blocks.length;
}

describe("memsim report in Chromium", () => {
  it("draws one rect per RAM block, shows a tooltip on hover, logs no errors", async () => {
    const file = join(OUT, "report.html");
    const r = await memsim(["report", "-o", file, "default"]);
    expect(r.status).toBe(0);
    const { page, errors } = await open(`file://${file}`);
    expect(await page.locator("#rammap rect.blk").count()).toBe(await blockCount(["default"]));
    expect(await page.locator("section").evaluateAll((s) => s.map((x) => x.id))).toEqual([
      "steps",
      "ram",
      "buddy",
      "slab",
      "vmalloc",
      "processes",
      "pagetable",
      "series",
      "frag",
    ]);
    expect(await page.locator("#ptwalk g.level").count()).toBe(4);
    expect(await page.locator("#processes svg.vmas").count()).toBe(2);
    for (const owner of ["free", "reserved", "kernel", "slab", "pgtable", "anon", "vmalloc"]) {
      expect(await page.locator(`#rammap rect.blk[data-owner="${owner}"]`).count(), owner).toBeGreaterThan(0);
    }
    const block = page.locator('#rammap rect.blk[data-owner="kernel"]').first();
    const title = (await block.locator("title").textContent()) ?? "";
    expect(title).toMatch(/^pfn 0x[0-9a-f]+(-0x[0-9a-f]+)? order \d+ \(\d+ KiB\) kernel, zone \w+; P0x[0-9a-f]+$/);
    await block.hover();
    const tip = page.locator("#tip");
    await expect.poll(() => tip.isVisible()).toBe(true);
    expect(await tip.textContent()).toBe(title);
    await page.screenshot({ path: join(OUT, "report.png"), fullPage: true });
    expect(existsSync(join(OUT, "report.png"))).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the fragment scenario's snapshot draws thousands of blocks without errors", async () => {
    const file = join(OUT, "report-fragment.html");
    await memsim(["report", "-o", file, "fragment", "--ram", "16M"]);
    const { page, errors } = await open(`file://${file}`);
    const r = await memsim(["report", "--json", "fragment", "--ram", "16M"]);
    const doc = JSON.parse(r.out) as { blocks: unknown[]; snapshots: Array<{ label: string; blocks: number }> };
    expect(await page.locator("#rammap rect.blk").count()).toBe(doc.blocks.length);
    expect(doc.snapshots.map((s) => s.label)).toEqual(["every other page free"]);
    const n = await page.locator("#rammap-1 rect.blk").count();
    expect(n).toBe(doc.snapshots[0]?.blocks);
    expect(n).toBeGreaterThan(4000);
    await page.screenshot({ path: join(OUT, "report-fragment.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the thrash scenario adds the EAT section after the series: one point per step, a tooltip with the step's figures", async () => {
    const file = join(OUT, "report-thrash.html");
    await memsim(["report", "-o", file, "thrash", "--ram", "8M"]);
    const { page, errors } = await open(`file://${file}`);
    const ids = await page.locator("section").evaluateAll((s) => s.map((x) => x.id));
    expect(ids.slice(ids.indexOf("series"), ids.indexOf("series") + 2)).toEqual(["series", "eat"]);
    expect(await page.locator("#eat svg.chart circle").count()).toBe(7);
    await page.locator("#eat svg.chart circle").nth(3).hover();
    expect(await page.locator("#tip").textContent()).toBe(
      "step 5, working set 17 pages: 1140 accesses in 10363540 ns, EAT 9090.8 ns: 3.96 log10 ns",
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the page served on 127.0.0.1 is the same page", async () => {
    const r = await memsim(["report", "-o", "-", "--ram", "8M"]);
    let server: Server | undefined;
    try {
      server = await serveReport(r.out, 0);
      const addr = server.address() as AddressInfo;
      expect(addr.address).toBe("127.0.0.1");
      const { page, errors } = await open(`http://127.0.0.1:${addr.port}/`);
      expect(await page.locator("#rammap rect.blk").count()).toBe(await blockCount(["--ram", "8M"]));
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      server?.close();
    }
  });
});
