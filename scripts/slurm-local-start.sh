#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests and for trying the SLURM profile.
# Installs Debian's slurmctld, slurmd, slurm-client and munge if missing, writes a
# slurm.conf from `hostname -s`, `nproc` and the memory, starts munged, slurmctld and
# slurmd without systemd, and waits until the node is idle. Idempotent: running it
# again with the daemons up changes nothing. Stop with scripts/slurm-local-stop.sh.
# Needs root (apt-get, /etc/slurm).
set -euo pipefail

STATE=/var/lib/ecopt-slurm       # pid files and spool of this cluster
CONF=/etc/slurm/slurm.conf
TIMEOUT=${SLURM_START_TIMEOUT:-120}

log() { echo "slurm-local-start: $*" >&2; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
# Leave 10 % of the memory to the system, as slurmd would refuse more than it sees.
memory_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
mkdir -p "$STATE/slurmctld" "$STATE/slurmd" /etc/slurm /var/log/slurm /run/munge /var/lib/munge /var/log/munge

wanted=$(cat <<CONFIG
# Written by scripts/slurm-local-start.sh: a one-node cluster on $host.
ClusterName=ecopt-local
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups and no accounting daemon here: plain process tracking, no slurmdbd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Finished jobs stay visible to squeue this long; the SLURM profile polls with
# squeue (no sacct without slurmdbd), so keep it well above its status interval.
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONFIG
)
changed=no
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$wanted" ]; then
    printf '%s\n' "$wanted" > "$CONF"
    changed=yes
fi

# munge: a key, then the daemon (as the munge user, as it refuses root).
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1 || true; fi
    [ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key; chmod 0755 /run/munge
if ! running /run/munge/munged.pid; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
fi
for _ in $(seq 1 50); do munge -n >/dev/null 2>&1 && break; sleep 0.2; done
munge -n | unmunge >/dev/null || { log "munge does not work"; exit 1; }

if [ "$changed" = yes ] && running "$STATE/slurmctld.pid"; then
    log "slurm.conf changed: restarting the daemons"
    kill "$(cat "$STATE/slurmd.pid")" "$(cat "$STATE/slurmctld.pid")" 2>/dev/null || true
    sleep 2
fi
if ! running "$STATE/slurmctld.pid"; then
    log "starting slurmctld"
    slurmctld -i
fi
if ! running "$STATE/slurmd.pid"; then
    log "starting slurmd"
    slurmd
fi

deadline=$((SECONDS + TIMEOUT))
until [ "$(sinfo -h -n "$host" -o %T 2>/dev/null | tr -d '*' | head -n1)" = idle ]; do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null | tr -d '*' | head -n1 || true)
    case "$state" in
        down|drain*|fail*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
        log "node $host is '${state:-unknown}' after ${TIMEOUT}s; see /var/log/slurm/"
        exit 1
    fi
    sleep 1
done
log "node $host idle: $cpus CPUs, $memory_mb MB, partition debug"
