#!/usr/bin/env bash
# Prints "fds threads rss_kb cpu_ticks established" for PID listening on PORT.
# Usage: bench/procstat.sh PID PORT
pid=$1 port=$2
fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
threads=$(awk '/^Threads:/{print $2}' /proc/$pid/status)
rss=$(awk '/^VmRSS:/{print $2}' /proc/$pid/status)
ticks=$(awk '{print $14+$15}' /proc/$pid/stat)
est=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l)
echo "$fds $threads $rss $ticks $est"
