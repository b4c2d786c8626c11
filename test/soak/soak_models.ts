/**
 * The models the soak runner drives: each is a fast-check arbitrary of one
 * story and a function that runs it, throwing at the first disagreement with
 * the model and returning how many commands and checker runs it made. The
 * same code runs in the vitest property tests (test/property/).
 */
import type fc from "fast-check";
import { runStory, storyArbitrary } from "../property/models/as_story.ts";

export interface SoakModel {
  readonly name: string;
  arbitrary(maxCommands: number): fc.Arbitrary<unknown>;
  run(story: unknown): { commands: number; checks: number };
}

export const SOAK_MODELS: SoakModel[] = [
  {
    name: "address-spaces",
    arbitrary: (max) => storyArbitrary(max),
    run: (story) => {
      const s = runStory(story as Parameters<typeof runStory>[0]).stats;
      return { commands: s.commands, checks: s.checks };
    },
  },
];
