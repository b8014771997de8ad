#!/usr/bin/env bash
# The device check for a machine with an NVIDIA GPU (issue 16): calibration with NVML,
# a small transformer-batch grid (best batch size / batch size 1), the proxy study on the
# GPU (Pearson r of parameters and FLOPs), CodeCarbon against Zeus on the same windows.
# Prints one table; about 3-5 minutes on one GPU. Installs ecopt from this checkout first
# (pip install -e ., into .venv when it exists). Exits 3, saying why, without a GPU.
# Usage: scripts/gpu-check.sh [--device cpu] [--no-install]
#   --device cpu: the same pieces at toy sizes on the CPU (how the script is tested here)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
install=1
args=()
for arg in "$@"; do
    if [ "$arg" = "--no-install" ]; then install=0; else args+=("$arg"); fi
done
if [ "$install" = 1 ]; then
    "$PYTHON" -m pip install --quiet -e . -c constraints.txt
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 540 "$PYTHON" scripts/gpu_check.py "${args[@]}"
