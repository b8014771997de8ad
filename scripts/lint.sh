#!/usr/bin/env bash
# The executable walls CI runs before the tests (.ci/run): lint, format, import contracts,
# the workflow's own lint. Every tool reads its settings from pyproject.toml. Runs them all
# and reports each, then fails if any failed, so one run shows every broken wall.
# snakemake --lint must not write under results/ (issue 12: no invocation writes there at
# parse time): the script checks that nothing under results/ is new or changed afterwards.
# Usage: scripts/lint.sh   (from anywhere; uses .venv/bin when it exists, else PATH)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${ECOPT_BIN:-$([ -x .venv/bin/python ] && echo .venv/bin/ || echo "")}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # lint-imports and the Snakefile import this checkout's ecopt
failed=()

run() {  # run NAME COMMAND...: report and remember a failure, never stop early
    local name=$1
    shift
    echo "== $name: $*"
    if "$@"; then echo "-- $name: ok"; else echo "-- $name: FAILED"; failed+=("$name"); fi
}

run "ruff check" "${BIN}ruff" check .
run "ruff format" "${BIN}ruff" format --check .
run "snakefmt" "${BIN}snakefmt" --check Snakefile workflow/
run "import contracts" "${BIN}lint-imports"

# The lint runs on a copy of the workflow in a scratch folder, so that a study running in
# this checkout (its jobs write logs under results/) cannot be mistaken for the lint writing.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
lint_workflow() {
    local snakemake_bin
    snakemake_bin=$(realpath "$(command -v "${BIN}snakemake")") || return 1
    cp -r Snakefile workflow profiles config "$scratch/" || return 1
    (cd "$scratch" && "$snakemake_bin" --lint --cores 1) || return 1
    if [ -e "$scratch/results" ]; then
        echo "snakemake --lint wrote under results/:"
        find "$scratch/results"
        return 1
    fi
}
run "snakemake --lint" lint_workflow

if [ ${#failed[@]} -gt 0 ]; then
    echo "lint.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "lint.sh: every wall holds"
