/**
 * What happened, counted from the event stream: per scenario step, the
 * events by kind, the pages they allocated and freed, and how the page
 * faults ended. `memsim run` prints it under each step; `memsim report`
 * lists it per step and plots the running totals.
 */
import { EVENT_KINDS, FAULT_OUTCOMES, type FaultOutcome, type MemsimEvent } from "../../kernel/events_types.ts";
import type { Machine } from "../machine.ts";

const OUTCOMES: readonly FaultOutcome[] = [...FAULT_OUTCOMES, "sigsegv", "oom"];
const KIND_AT = new Map<string, number>(EVENT_KINDS.map((k, i) => [k, i]));
const OUTCOME_AT = new Map<string, number>(OUTCOMES.map((o, i) => [o, i]));

/** Counts over a stretch of the run. */
export interface EventCounts {
  /** Events by kind, only kinds that happened, in EVENT_KINDS order. */
  readonly kinds: Readonly<Record<string, number>>;
  /** Pages named by successful mm_page_alloc / by mm_page_free events. */
  readonly pagesAllocated: number;
  readonly pagesFreed: number;
  /** page_fault_user events by outcome, only outcomes that happened. */
  readonly faults: Readonly<Record<string, number>>;
}

/** Running counters, read as the difference between two points. */
export class EventTally {
  private readonly byKind = new Float64Array(EVENT_KINDS.length);
  private readonly byOutcome = new Float64Array(OUTCOMES.length);
  private allocated = 0;
  private freed = 0;
  private mark: { kind: Float64Array; outcome: Float64Array; allocated: number; freed: number };

  /** Counts every event of `m` from now on. */
  constructor(m: Machine) {
    this.mark = this.snapshot();
    m.events.onAll((e) => this.count(e));
  }

  private count(e: MemsimEvent): void {
    const k = KIND_AT.get(e.kind) as number;
    this.byKind[k] = (this.byKind[k] as number) + 1;
    if (e.kind === "mm_page_alloc" && e.pfn >= 0) this.allocated += 2 ** e.order;
    else if (e.kind === "mm_page_free") this.freed += 2 ** e.order;
    else if (e.kind === "page_fault_user") {
      const o = OUTCOME_AT.get(e.outcome) as number;
      this.byOutcome[o] = (this.byOutcome[o] as number) + 1;
    }
  }

  private snapshot(): { kind: Float64Array; outcome: Float64Array; allocated: number; freed: number } {
    return { kind: this.byKind.slice(), outcome: this.byOutcome.slice(), allocated: this.allocated, freed: this.freed };
  }

  /** Everything counted since boot. */
  total(): EventCounts {
    return counts(this.byKind, this.byOutcome, this.allocated, this.freed);
  }

  /** What was counted since the last call (or since the tally began). */
  take(): EventCounts {
    const m = this.mark;
    const kind = this.byKind.map((v, i) => v - (m.kind[i] as number));
    const outcome = this.byOutcome.map((v, i) => v - (m.outcome[i] as number));
    const out = counts(kind, outcome, this.allocated - m.allocated, this.freed - m.freed);
    this.mark = this.snapshot();
    return out;
  }
}

function counts(kind: Float64Array, outcome: Float64Array, pagesAllocated: number, pagesFreed: number): EventCounts {
  const kinds: Record<string, number> = {};
  kind.forEach((v, i) => {
    if (v > 0) kinds[EVENT_KINDS[i] as string] = v;
  });
  const faults: Record<string, number> = {};
  outcome.forEach((v, i) => {
    if (v > 0) faults[OUTCOMES[i] as string] = v;
  });
  return { kinds, pagesAllocated, pagesFreed, faults };
}

function pages(n: number): string {
  return n === 1 ? "1 page" : `${n} pages`;
}

/**
 * One line: "3 brk, 12 mm_page_alloc (12 pages), 4 page_fault_user (3
 * demand_zero, 1 zero_page) ..." in kind order; "no events" when empty.
 */
export function formatCounts(c: EventCounts): string {
  const parts: string[] = [];
  for (const [kind, n] of Object.entries(c.kinds)) {
    let extra = "";
    if (kind === "mm_page_alloc") extra = ` (${pages(c.pagesAllocated)})`;
    else if (kind === "mm_page_free") extra = ` (${pages(c.pagesFreed)})`;
    else if (kind === "page_fault_user") {
      extra = ` (${Object.entries(c.faults)
        .map(([o, k]) => `${k} ${o}`)
        .join(", ")})`;
    }
    parts.push(`${n} ${kind}${extra}`);
  }
  return parts.length > 0 ? parts.join(", ") : "no events";
}
