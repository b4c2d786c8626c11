# memsim — the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
NPM ?= npm

.PHONY: run test bench check deps typecheck clean soak

# Installs dependencies when node_modules is missing or older than the lockfile.
# npm 11 may refuse `npm ci` over platform-specific optional packages (Biome's);
# `npm install` then installs the same pinned versions.
node_modules/.installed: package.json package-lock.json
	@$(NPM) ci --no-audit --no-fund --loglevel=silent >/dev/null 2>&1 || $(NPM) install --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.installed

run: deps
	npx --no-install tsx sim/cli/main.ts run

typecheck: deps
	npx --no-install tsc --noEmit -p .

test: deps typecheck
	npx --no-install vitest run --config test/vitest.config.ts $(VITEST_ARGS)

# `make bench` is `memsim bench` (a pattern, --json). BENCH_ARGS reaches it as
# words, never through a shell: a filter such as 'kmalloc|buddy' is a regular
# expression, not a pipe.
export BENCH_ARGS
bench: deps
	@read -ra args <<< "$${BENCH_ARGS:-}"; npx --no-install tsx sim/cli/main.ts bench "$${args[@]}"

# `make soak` is the run before a release: the property-test models for a
# million commands (SOAK_COMMANDS), progress on stderr, a summary on stdout;
# SOAK_SEED replays a run. Exit status 1 when a story failed.
SOAK_COMMANDS ?= 1000000
soak: deps
	npx --no-install tsx test/soak/soak.ts --commands $(SOAK_COMMANDS) $(if $(SOAK_SEED),--seed $(SOAK_SEED))

check: deps typecheck
	npx --no-install biome check --config-path .ci/biome.json .

clean:
	rm -rf node_modules .vitest-report.json
