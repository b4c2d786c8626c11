/**
 * A graded submission written out: text for the student, json, Gradescope's
 * results.json, TAP 14, JUnit XML. No output carries a time or a date, so
 * the same submission prints the same bytes.
 */
import type { CheckResult, GradeResult } from "./types.ts";

/** The formats of `memsim grade --format`. */
export const FORMATS = ["text", "json", "gradescope", "tap", "junit"] as const;
export type Format = (typeof FORMATS)[number];

/** `result` in `format`, ending with a newline. */
export function formatResult(result: GradeResult, format: Format): string {
  switch (format) {
    case "text":
      return text(result);
    case "json":
      return `${JSON.stringify(result, null, 2)}\n`;
    case "gradescope":
      return `${JSON.stringify(gradescope(result), null, 2)}\n`;
    case "tap":
      return tap(result);
    case "junit":
      return junit(result);
  }
}

const LABEL: Record<CheckResult["status"], string> = { pass: "PASS", fail: "FAIL", timeout: "TIME", crash: "CRASH" };

/** One line per check (status, points, name, what it checks), the failure's output under it, then `Score: x/y`. */
function text(r: GradeResult): string {
  const lines = [`memsim grade: lab ${r.lab}`, ""];
  for (const c of r.checks) {
    lines.push(`${LABEL[c.status].padEnd(5)} ${`${c.score}/${c.weight}`.padStart(5)}  ${c.name}: ${c.explain}`);
    if (c.status !== "pass") for (const l of c.output.split("\n")) lines.push(`             ${l}`);
  }
  lines.push("", `Score: ${r.score}/${r.maxScore}`, "");
  return lines.join("\n");
}

/** Gradescope's autograder results.json: the total, and per test its name, number, score, max_score, status and output. */
function gradescope(r: GradeResult): Record<string, unknown> {
  const passed = r.checks.filter((c) => c.status === "pass").length;
  return {
    score: r.score,
    output: `memsim lab ${r.lab}: ${passed} of ${r.checks.length} checks passed`,
    tests: r.checks.map((c, i) => ({
      name: c.name,
      number: String(i + 1),
      score: c.score,
      max_score: c.weight,
      status: c.status === "pass" ? "passed" : "failed",
      output: `${c.explain}\n\n${c.output}`.trimEnd(),
    })),
  };
}

/** TAP version 14: a test point per check, a YAML block with the output of a failed one. */
function tap(r: GradeResult): string {
  const lines = ["TAP version 14", `1..${r.checks.length}`];
  r.checks.forEach((c, i) => {
    lines.push(`${c.status === "pass" ? "ok" : "not ok"} ${i + 1} - ${c.name} (${c.score}/${c.weight})`);
    if (c.status === "pass") return;
    lines.push("  ---", `  status: ${c.status}`, `  explain: ${JSON.stringify(c.explain)}`, "  output: |");
    for (const l of c.output.split("\n")) lines.push(`    ${l}`);
    lines.push("  ...");
  });
  lines.push(`# Score: ${r.score}/${r.maxScore}`, "");
  return lines.join("\n");
}

/** JUnit XML: one testsuite, a testcase per check; a failed check is a <failure>, a timeout or crash an <error>. */
function junit(r: GradeResult): string {
  const failures = r.checks.filter((c) => c.status === "fail").length;
  const errors = r.checks.filter((c) => c.status === "timeout" || c.status === "crash").length;
  const suite = `memsim.lab.${r.lab}`;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="memsim grade" tests="${r.checks.length}" failures="${failures}" errors="${errors}">`,
  ];
  out.push(`  <testsuite name="${xml(suite)}" tests="${r.checks.length}" failures="${failures}" errors="${errors}">`);
  out.push(
    "    <properties>",
    `      <property name="score" value="${r.score}"/>`,
    `      <property name="max_score" value="${r.maxScore}"/>`,
    "    </properties>",
  );
  for (const c of r.checks) {
    out.push(`    <testcase name="${xml(c.name)}" classname="${xml(suite)}">`);
    if (c.status !== "pass") {
      const tag = c.status === "fail" ? "failure" : "error";
      const last = c.output.split("\n").at(-1) ?? "";
      out.push(`      <${tag} message="${xml(last)}" type="${c.status}">${xml(c.output)}</${tag}>`);
    }
    out.push(`      <system-out>${xml(`${c.explain} (${c.score}/${c.weight})`)}</system-out>`, "    </testcase>");
  }
  out.push("  </testsuite>", "</testsuites>", "");
  return out.join("\n");
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
