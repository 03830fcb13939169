#!/usr/bin/env bash
# Reproduce the zoo: train every model of this folder, one 1-thread training per CPU core side by
# side (on a 2-core machine two 1-thread trainings cost far less CPU per iteration than one
# 2-thread training; see `nca-world bench --training`). Each training resumes where it stopped
# (its full checkpoint, or the committed NAME.resume.h5 of an unfinished training).
# Usage: train-all.sh [NAME...]   (default: every *.toml training config here)
set -euo pipefail
cd "$(dirname "$0")"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for config in *.toml; do [ "$config" != zoo.toml ] && names+=("${config%.toml}"); done
fi
# A training with 64-199-step rollouts peaks at ~4 GB (back-propagation through the whole rollout):
# run no more at once than the memory holds.
memory_jobs=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / (4 * 1024 * 1024) ))
jobs=${JOBS:-$(( memory_jobs < $(nproc) ? (memory_jobs > 0 ? memory_jobs : 1) : $(nproc) ))}
# the project's own command when the virtual environment is not activated
NCA_WORLD=$(command -v nca-world || echo "$(cd ../../.. && pwd)/.venv/bin/nca-world")
export NCA_WORLD
printf '%s\n' "${names[@]}" | xargs -P "$jobs" -I{} sh -c '
    resume=""; { [ -f "{}.ckpt.h5" ] || [ -f "{}.resume.h5" ]; } && resume="--resume"
    OMP_NUM_THREADS=1 "$NCA_WORLD" train "{}.toml" $resume > "{}.log" 2>&1 && echo "{}: done" || echo "{}: failed (see {}.log)"'
