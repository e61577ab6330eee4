#!/usr/bin/env bash
# The GPU run of exactdiff in one call (at most 10 minutes), from the repository root:
#
#   bash benchmarks/gpu.sh              # on a machine with an NVIDIA GPU and CUDA 12
#   bash benchmarks/gpu.sh --dry-run    # anywhere: print the plan, run nothing
#
# Steps, each under its own time limit (together 570 s; --budget scales them):
#   1. install the `gpu` and `test` extras (pip install -e ".[gpu,test]"); offline, an
#      already installed CuPy is used, and the step is recorded as failed;
#   2. the CuPy tests (tests/test_array_api.py -k cupy; a skip counts as a failure here);
#   3. CuPy's expm (cupyx.scipy.linalg.expm) against scipy's on the token generators of
#      exactdiff (uniform, absorbing, random; n = 2..17; σ̄ from 1e-8 to 40): exactdiff
#      never uses it (kernels come from scipy on the host), this records whether it could;
#   4. benchmarks/scale.py --xp cupy: the pointwise mdse on the GPU, uniform and absorbing,
#      L growing until exactdiff.memory refuses a size (80 % of the device's memory), values
#      compared with NumPy up to L = 11.
# Results: JSON under $OUT when it is set, else under benchmarks/results/: gpu.json (the
# summary: device, versions, each step's status and seconds), gpu_expm.json,
# scale_cupy.json, and the logs of each step (gpu_*.log). Exit status: 0 when every step
# passed.
set -u
cd "$(dirname "$0")/.."

DRY=0
INSTALL=1
BUDGET=570
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --no-install) INSTALL=0 ;;
    --budget) shift; BUDGET="$1" ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (use --dry-run, --no-install, --budget SECONDS)" >&2; exit 2 ;;
  esac
  shift
done

OUTDIR="${OUT:-benchmarks/results}"
if [ -x .venv/bin/python ]; then PY=".venv/bin/python"; else PY="${PYTHON:-python3}"; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# time limits of the steps, in seconds, scaled to the budget (570 s by default)
T_INSTALL=$(( BUDGET * 180 / 570 ))
T_TESTS=$(( BUDGET * 120 / 570 ))
T_EXPM=$(( BUDGET * 30 / 570 ))
T_SCALE=$(( BUDGET * 240 / 570 ))

INSTALL_CMD=("$PY" -m pip install --quiet --disable-pip-version-check -e ".[gpu,test]")
TESTS_CMD=("$PY" -m pytest -q -rs -p no:cacheprovider tests/test_array_api.py -k cupy)
SCALE_CMD=("$PY" benchmarks/scale.py --xp cupy --skip-verify --check-L 11
           --uniform-L 8 9 10 11 12 13 14 15 16 17 --absorbing-L 8 9 10 11 12 13 14)

if [ "$DRY" = 1 ]; then
  echo "gpu.sh plan (dry run: nothing is executed)"
  echo "  python:     $PY"
  echo "  results in: $OUTDIR (gpu.json, gpu_expm.json, scale_cupy.json, gpu_*.log)"
  echo "  0. nvidia-smi (device name and memory)"
  if [ "$INSTALL" = 1 ]; then
    echo "  1. [${T_INSTALL} s] ${INSTALL_CMD[*]}"
  else
    echo "  1. skipped (--no-install)"
  fi
  echo "  2. [${T_TESTS} s] ${TESTS_CMD[*]}"
  echo "  3. [${T_EXPM} s] $PY - <<expm check> (cupyx.scipy.linalg.expm vs scipy.linalg.expm)"
  echo "  4. [${T_SCALE} s] ${SCALE_CMD[*]}"
  echo "  total limit: $(( T_INSTALL + T_TESTS + T_EXPM + T_SCALE )) s"
  for f in benchmarks/scale.py tests/test_array_api.py setup.cfg; do
    [ -f "$f" ] || { echo "gpu.sh: missing $f" >&2; exit 1; }
  done
  exit 0
fi

mkdir -p "$OUTDIR"
STEPS=()  # "name status seconds" records for the summary

step() {  # step NAME LIMIT CMD...: run CMD under `timeout LIMIT`, log to $OUTDIR/gpu_NAME.log
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS status
  echo "== $name (limit ${limit} s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$OUTDIR/gpu_$name.log" 2>&1
  status=$?
  tail -n 25 "$OUTDIR/gpu_$name.log"
  echo "== $name: exit $status after $(( SECONDS - start )) s"
  STEPS+=("$name $status $(( SECONDS - start ))")
  return $status
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUTDIR/gpu_nvidia-smi.log" 2>&1 \
  || echo "gpu.sh: nvidia-smi failed (no NVIDIA driver?); continuing" >&2
cat "$OUTDIR/gpu_nvidia-smi.log"

if [ "$INSTALL" = 1 ]; then
  step install "$T_INSTALL" "${INSTALL_CMD[@]}"
fi
if ! "$PY" -c "import cupy, sys; sys.exit(cupy.cuda.runtime.getDeviceCount() < 1)" >/dev/null 2>&1; then
  echo "gpu.sh: CuPy cannot see a CUDA device; the GPU steps fail" >&2
  STEPS+=("cupy_device 1 0")
fi

# 2. the CuPy tests; a skipped CuPy test means the GPU path was not exercised
step cupy_tests "$T_TESTS" "${TESTS_CMD[@]}"
if grep -q "skipped" "$OUTDIR/gpu_cupy_tests.log"; then
  STEPS+=("cupy_tests_not_skipped 1 0")
fi

# 3. CuPy's expm against scipy's
step expm "$T_EXPM" "$PY" - "$OUTDIR/gpu_expm.json" <<'PYEOF'
import json, sys
import numpy as np
import scipy.linalg
import cupy
import cupyx.scipy.linalg as cxl
import exactdiff as ed

rows = []
for name, Q in [(f"uniform N={N}", ed.uniform(N).Q) for N in (2, 4, 16)] + \
        [(f"absorbing N={N}", ed.absorbing(N).Q) for N in (2, 4, 16)] + \
        [(f"random N={N}", ed.process.random_generator(N, seed=N)) for N in (3, 8)]:
    for sbar in (1e-8, 1e-3, 0.5, 3.0, 40.0):
        ref = scipy.linalg.expm(sbar * Q)
        got = cupy.asnumpy(cxl.expm(cupy.asarray(sbar * Q)))
        rows.append(dict(process=name, sigma_bar=sbar, max_abs_error=float(np.max(np.abs(got - ref))),
                         column_sum_error=float(np.max(np.abs(got.sum(axis=0) - 1.0)))))
worst = max(r["max_abs_error"] for r in rows)
for r in rows:
    print(f"{r['process']:16s} sbar={r['sigma_bar']:<8g} max|cupy - scipy| = {r['max_abs_error']:.2e}")
verdict = "agrees with scipy to 1e-12" if worst <= 1e-12 else "DIFFERS from scipy (exactdiff keeps scipy on the host)"
print(f"worst {worst:.2e}: cupyx.scipy.linalg.expm {verdict}")
json.dump(dict(check="cupyx expm vs scipy expm", cupy=cupy.__version__, worst_abs_error=worst,
               tolerance=1e-12, agrees=worst <= 1e-12, rows=rows), open(sys.argv[1], "w"), indent=2)
PYEOF

# 4. the scale benchmark on CuPy, up to the largest S that fits the device
step scale "$T_SCALE" "${SCALE_CMD[@]}"
[ -f benchmarks/results/scale_cupy.json ] && [ "$OUTDIR" != "benchmarks/results" ] \
  && cp benchmarks/results/scale_cupy.json "$OUTDIR/"

# summary
printf '%s\n' "${STEPS[@]}" | "$PY" - "$OUTDIR/gpu.json" <<'PYEOF'
import json, platform, subprocess, sys
steps = [dict(step=s, exit_status=int(c), seconds=int(t)) for s, c, t in (l.split() for l in sys.stdin if l.strip())]
info = {}
try:
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    info = dict(cupy=cupy.__version__, device=props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
                device_bytes=int(cupy.cuda.runtime.memGetInfo()[1]), cuda_runtime=cupy.cuda.runtime.runtimeGetVersion())
except Exception as exc:  # no CuPy or no device: recorded, not raised
    info = dict(cupy_error=repr(exc))
summary = dict(benchmark="gpu", steps=steps, passed=all(s["exit_status"] == 0 for s in steps),
               machine=platform.platform(), **info)
json.dump(summary, open(sys.argv[1], "w"), indent=2)
print(json.dumps(summary, indent=2))
sys.exit(0 if summary["passed"] else 1)
PYEOF
