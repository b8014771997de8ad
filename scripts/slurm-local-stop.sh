#!/usr/bin/env bash
# Stops what scripts/slurm-local-start.sh started, by the PIDs in their pid files.
set -uo pipefail
STATE=/var/lib/ecopt-slurm
for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" /run/munge/munged.pid; do
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "slurm-local-stop: stopped $(basename "$pidfile" .pid) ($pid)" >&2
    fi
    rm -f "$pidfile"
done
