#!/usr/bin/env bash
# Reproduce the zoo: train every model of this folder in turn (resumes where a run stopped).
set -euo pipefail
cd "$(dirname "$0")"
for name in gecko-B cross gecko-C gecko-A digits; do
    resume=(); [ -f "$name.ckpt.h5" ] && resume=(--resume)
    nca-world train "$name.toml" "${resume[@]}"
done
