"""Start-up cost of ``import exactdiff`` against the scientific stack it is built on.

Measures, in one run and interleaved (so that load on the machine hits both alike), the
wall time of fresh interpreters running

- ``python -c "import exactdiff"``, and
- ``python -c "import numpy, scipy.linalg, scipy.special, scipy.integrate"``,

``--repeats`` times each (default 21), and reports the medians and their ratio (goal:
at most 1.3). Also records which optional heavy libraries ``import exactdiff`` loaded
(none should be: sympy, matplotlib and tqdm are imported on first use).

Writes benchmarks/results/import_time.json. Run as ``python benchmarks/import_time.py``
with the package installed.
"""

import argparse
import statistics
import subprocess
import sys
import time

from _common import write_json

COMMANDS = {
    "exactdiff": "import exactdiff",
    "numpy+scipy": "import numpy, scipy.linalg, scipy.special, scipy.integrate",
}
GOAL = 1.3


def run_once(code):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21, help="interpreter starts per command (default 21)")
    args = ap.parse_args()
    for code in COMMANDS.values():  # warm the file-system cache once, outside the measurement
        run_once(code)
    times = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, code in COMMANDS.items():
            times[name].append(run_once(code))
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["exactdiff"] / medians["numpy+scipy"]
    probe = ("import sys, exactdiff; print(','.join(m for m in ('sympy', 'matplotlib', 'tqdm', 'mpmath') "
             "if m in sys.modules))")
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    print(f"{'command':<70} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, code in COMMANDS.items():
        t = times[name]
        print(f"python -c \"{code}\"".ljust(70) + f" {medians[name]:9.3f} {min(t):7.3f} {max(t):7.3f}")
    print(f"ratio exactdiff / numpy+scipy = {ratio:.2f} (goal <= {GOAL}); "
          f"heavy libraries loaded by import exactdiff: {heavy or 'none'}")
    write_json("import_time", dict(repeats=args.repeats, commands=COMMANDS, seconds=times, medians=medians,
                                   ratio=ratio, goal=GOAL, goal_met=ratio <= GOAL, heavy_modules_loaded=heavy))


if __name__ == "__main__":
    main()
