#!/usr/bin/env bash
# The GPU run of exactdiff, offline, in one command of at most 10 minutes, from the
# repository root:
#
#   bash benchmarks/gpu.sh                 # on a machine with CuPy and an NVIDIA GPU
#   bash benchmarks/gpu.sh --budget 240    # seconds for the whole run (default 360)
#   bash benchmarks/gpu.sh --dry-run       # anywhere: NumPy stands in for CuPy, tiny sizes
#
# It needs no network. It uses the CuPy already installed (the GPU image has
# cupy-cuda13x); the Python packages exactdiff needs and that machine lacks travel as
# wheels in .whl/ (made here by benchmarks/download_wheels.sh: array-api-compat), and
# are installed with `pip install --no-index --no-deps --target`; the repository itself
# goes on PYTHONPATH (no `pip install -e`, which would need the network).
#
# Steps:
#   1. install the carried wheels .whl/*.whl, if any, into $EXACTDIFF_SITE
#      (default /tmp/exactdiff-site) and put it and the repository on PYTHONPATH;
#   2. check that exactdiff imports and (unless --dry-run) that CuPy sees a GPU; a missing
#      package stops the run here with the command that fetches it;
#   3. benchmarks/gpu.py with the time left of the budget: CuPy against NumPy on small
#      toys (stops with exit status 3 when they differ by more than 1e-12), then the
#      pointwise mdse for N = 4, uniform and absorbing, L growing until the next size
#      would exceed the time left or the GPU's memory (see its docstring).
# Results: $OUT/gpu.json when OUT is set, else benchmarks/results/gpu.json, and the
# output as gpu.log beside it. Exit status: gpu.py's (0 when every agreement holds).
# Other options (--start-L, --max-L, --numpy-max-L, --memory-limit) go to gpu.py.
# docs/guide/gpu.md describes the run through the device tool.
set -uo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS

DRY=0
BUDGET=""
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --budget) shift; BUDGET="${1:?--budget needs a number of seconds}" ;;
    --start-L|--max-L|--numpy-max-L|--memory-limit)
      [ $# -ge 2 ] || { echo "gpu.sh: $1 needs a value" >&2; exit 2; }
      PASS+=("$1" "$2"); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (use --dry-run, --budget SECONDS, --start-L, --max-L, --numpy-max-L," \
            "--memory-limit; --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$BUDGET" ]; then
  if [ "$DRY" = 1 ]; then BUDGET=20; else BUDGET=360; fi
fi

PY="${PYTHON:-python3}"
SITE="${EXACTDIFF_SITE:-/tmp/exactdiff-site}"
OUTDIR="${OUT:-benchmarks/results}"
mkdir -p "$OUTDIR"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export PYTHONUNBUFFERED=1

# 1. the carried wheels
if compgen -G ".whl/*.whl" >/dev/null; then
  echo "gpu.sh: installing the carried wheels into $SITE: $(cd .whl && echo *.whl)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || { echo "gpu.sh: installing .whl/*.whl failed (see above)" >&2; exit 2; }
  export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

# 2. what the run needs
"$PY" - "$DRY" <<'PYEOF' || exit 2
import importlib.util, sys
dry = sys.argv[1] == "1"
need = ["numpy", "scipy", "array_api_compat", "threadpoolctl"] + ([] if dry else ["cupy"])
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu.sh: missing Python packages: {', '.join(missing)}. On a machine with network, run "
             "`bash benchmarks/download_wheels.sh` in the repository and carry .whl (device tool: carry [\".whl\"]).")
import array_api_compat, exactdiff
print(f"gpu.sh: exactdiff {exactdiff.__version__} from {exactdiff.__file__}; array-api-compat "
      f"{array_api_compat.__version__} from {array_api_compat.__file__}")
if not dry:
    import cupy
    count = cupy.cuda.runtime.getDeviceCount()
    if count < 1:
        sys.exit("gpu.sh: CuPy sees no GPU (getDeviceCount() = 0); use --dry-run on a machine without one.")
PYEOF
if [ "$DRY" = 0 ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi

# 3. the run, with the time that is left
LEFT=$(( BUDGET - (SECONDS - START) ))
ARGS=(--budget "$LEFT")
[ "$DRY" = 1 ] && ARGS+=(--dry-run)
"$PY" benchmarks/gpu.py "${ARGS[@]}" "${PASS[@]}" 2>&1 | tee "$OUTDIR/gpu.log"
exit "${PIPESTATUS[0]}"
