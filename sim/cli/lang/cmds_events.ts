/**
 * `events`: the step-by-step view of the event stream in `memsim shell` and
 * `memsim script`: what the previous line did, one event a line
 * (`seq pid kind: fields`, the fields as the tracepoint prints them).
 */
import { EVENT_KINDS } from "../../../kernel/events_types.ts";
import { formatEventFields } from "../../trace_output.ts";
import { LANG_COMMANDS, type LangArgs, LangError } from "./registry.ts";
import type { Session } from "./session.ts";

function events(s: Session, a: LangArgs): string {
  const kind = a.optStr("kind");
  const max = a.optInt("max", 50, 1, 100_000);
  a.done(0);
  if (kind !== undefined && !(EVENT_KINDS as readonly string[]).includes(kind)) {
    throw new LangError(`events: unknown kind '${kind}' (kinds: ${EVENT_KINDS.join(", ")})`);
  }
  const line = s.lastLine;
  const picked = kind === undefined ? line.events : line.events.filter((e) => e.kind === kind);
  const total = kind === undefined ? line.total : picked.length;
  const what = kind === undefined ? "events" : `${kind} events`;
  const head = `${total} ${what} in the previous line${line.text === "" ? "" : ` (${line.text})`}`;
  const rows = picked.slice(0, max).map((e) => `${e.seq} ${e.common_pid} ${e.kind}: ${formatEventFields(e)}`);
  const more = total > rows.length ? [`... ${total - rows.length} more`] : [];
  return [head, ...rows, ...more].join("\n");
}

LANG_COMMANDS.push({
  name: "events",
  synopsis: "[kind=KIND] [max=N]",
  help: "what the previous line did: its events, one a line (max 50 unless max=N)",
  run: events,
});
