#!/usr/bin/env node
// Runs the TypeScript CLI in this process with tsx's loader registered, so a
// fresh clone needs no build step and signals reach the CLI directly.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// tsx's package entry registers its loader hooks when imported (what `node --import tsx` does).
await import(pathToFileURL(join(dirname(require.resolve("tsx/package.json")), "dist", "loader.mjs")).href);
await import(pathToFileURL(join(here, "..", "cli", "main.ts")).href);
