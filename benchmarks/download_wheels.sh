#!/usr/bin/env bash
# Download, here (with network), the wheels that the offline GPU machine lacks, into
# .whl/ at the repository root, for benchmarks/gpu.sh to install there:
#
#   bash benchmarks/download_wheels.sh             # the default list below
#   bash benchmarks/download_wheels.sh NAME==VER   # other wheels instead
#
# The GPU image (Python 3.12, x86-64) already holds numpy, scipy, sympy, matplotlib,
# tqdm, threadpoolctl and CuPy (cupy-cuda13x); of exactdiff's install_requires it lacks
# only array-api-compat. The version is pinned to the one the tests use here, so that
# the GPU runs the code path that was tested. The wheels are fetched for that machine,
# not this one (CPython 3.12, manylinux x86_64), without their dependencies: name each
# missing one. Older wheels of the same projects are removed first (two versions of one
# project stop the install there). .whl/ is git-ignored; the device tool takes it along
# with carry [".whl"] (docs/guide/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

WHEELS=("array-api-compat==1.16.0")
[ $# -gt 0 ] && WHEELS=("$@")

mkdir -p .whl
for spec in "${WHEELS[@]}"; do
  name="${spec%%[=<>!~ ]*}"
  stem="$(echo "$name" | tr '[:upper:]-.' '[:lower:]__')"
  rm -f .whl/"$stem"-*.whl
done
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
echo "download_wheels.sh: in .whl/:"
ls -l .whl/*.whl
du -ch .whl/*.whl | tail -n 1
