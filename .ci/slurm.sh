#!/usr/bin/env bash
# A real single-node SLURM on localhost for CI: `.ci/slurm.sh start DIR` installs Debian's SLURM and munge (if
# missing), writes /etc/slurm/slurm.conf (where srun inside a job looks for it too) with two fake GPUs as GRES
# (character devices made with mknod; state and logs under DIR), starts munged, slurmctld and slurmd by hand (no
# systemd) and waits for the node.
# `.ci/slurm.sh stop DIR` stops the three daemons by the process ids they wrote.
set -euo pipefail
action=$1 dir=$(mkdir -p "$2" && cd "$2" && pwd)

stop() {
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

if [ "$action" = stop ]; then stop; exit 0; fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq slurm-wlm munge >/dev/null; }
fi
host=$(hostname -s)
mkdir -p "$dir/spool/ctld" "$dir/spool/d" "$dir/log"
[ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chmod 400 /etc/munge/munge.key
for k in 0 1; do [ -e "$dir/fakegpu$k" ] || mknod "$dir/fakegpu$k" c 1 3; done  # /dev/null's numbers: never opened
mkdir -p /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=quanos-ci
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo) Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=$host Name=gpu File=$dir/fakegpu[0-1]" > /etc/slurm/gres.conf
mkdir -p /run/munge  # munge's default socket, which every SLURM command looks for
munged --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --force
slurmctld
slurmd
for _ in $(seq 30); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  case "$state" in idle*|mix*|alloc*) break ;; esac
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 1
done
sinfo -h -n "$host" -o "%n %T %G" >&2
