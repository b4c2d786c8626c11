/**
 * The Mesh allocator against a byte model (models/mesh.ts): random malloc
 * bursts, frees and mesh passes; every block keeps its bytes through
 * meshing, frees through any virtual span work, Shmem follows the physical
 * spans, and the checkers pass after every command.
 */
import { describe, expect, it } from "vitest";
import { BUDGET_TIMEOUT, budgetOf, runBudget } from "../support/budget.ts";
import { MESH_MODEL } from "./models/mesh.ts";

describe("mesh against a byte model", () => {
  it(
    `malloc/free/mesh: bytes intact, Shmem = physical spans, checkers pass (${budgetOf(MESH_MODEL)} commands)`,
    () => {
      expect(runBudget(MESH_MODEL)).toBeGreaterThanOrEqual(budgetOf(MESH_MODEL));
    },
    BUDGET_TIMEOUT,
  );
});
