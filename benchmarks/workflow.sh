#!/usr/bin/env bash
# Workflow figures on this machine: wall time of the default study, a no-op rerun
# (wall time and job count), per-trial overhead (job wall - metered work) and the
# optimiser's seconds per round. Runs the default study from scratch in a copy.
# Usage: bash benchmarks/workflow.sh [CONFIG]   (default: config/config.yaml)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
config="${1:-$repo/config/config.yaml}"
snakemake="$repo/.venv/bin/snakemake"
python="$repo/.venv/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ln -s "$repo/Snakefile" "$repo/workflow" "$repo/profiles" "$work/"
mkdir -p "$work/config" && cp "$config" "$work/config/config.yaml"
cd "$work"

t0=$EPOCHREALTIME
"$snakemake" --cores 2 all > full.log 2>&1
t1=$EPOCHREALTIME
"$snakemake" --cores 2 all > noop.log 2>&1
t2=$EPOCHREALTIME
jobs=$(grep -c "^rule \|^localrule " noop.log || true)

"$python" - "$t0" "$t1" "$t2" "$jobs" <<'PY'
import csv, glob, json, statistics, sys
t0, t1, t2, jobs = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
full, noop = t1 - t0, t2 - t1
study = glob.glob("results/*/rounds")[0].rsplit("/", 1)[0]
print(f"default study, cold: {full:.0f} s wall ({full / 60:.1f} min)")
print(f"no-op rerun: {noop:.1f} s wall, {jobs} jobs run")
overheads, walls = [], []
for path in sorted(glob.glob(f"{study}/rounds/*/trials/*.json")):
    record = json.load(open(path))
    round_index = path.split("/")[-3]
    index = path.split("/")[-1].split(".")[0]
    with open(f"{study}/benchmarks/trials/{round_index}-{index}.tsv") as stream:
        job_wall = float(next(csv.DictReader(stream, delimiter="\t"))["s"])
    metered = (record.get("train_seconds") or 0) + (record.get("eval_seconds") or 0)
    overheads.append(job_wall - metered)
    walls.append(job_wall)
print(f"per-trial overhead (job wall - metered train and evaluation): median {statistics.median(overheads):.1f} s, "
      f"max {max(overheads):.1f} s over {len(overheads)} trials (median job wall {statistics.median(walls):.1f} s)")
for path in sorted(glob.glob(f"{study}/rounds/*/proposals.json")):
    proposals = json.load(open(path))
    seconds = proposals["seconds"]
    print(f"round {proposals['round']}: {proposals['generator']}, optimiser {seconds['total']:.1f} s "
          f"(rebuild {seconds['rebuild']:.1f} s, generate {seconds['generate']:.1f} s) for {len(proposals['proposals'])} proposals")
PY
