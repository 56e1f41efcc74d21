#!/bin/sh
# usage: run.sh SOURCE_ROOT SDV [PYTHON_PACKAGE_DIR]
# Copies the notebooks to a temporary folder, makes a small results set there
# (scripts/notebooks.sh --small: cheap verify checks and short sdv simulate runs) and executes
# every notebook; fails if any notebook raises or produces no plot. Exit 77 (skip) when
# jupyter-nbconvert or matplotlib is missing. PYTHON_PACKAGE_DIR (BUILD/python) holds the
# build tree's Python package `sdv`, which notebook 09 imports; it runs its weak study on
# SDV_NB_PATHS = 500 paths here.
set -eu
src=$1
sdv=$2
if [ $# -ge 3 ]; then
  export PYTHONPATH="$3${PYTHONPATH:+:$PYTHONPATH}"
fi
export SDV_NB_PATHS=${SDV_NB_PATHS:-500}
command -v jupyter-nbconvert >/dev/null || { echo "jupyter-nbconvert not installed: skip"; exit 77; }
/usr/bin/python3 -c 'import matplotlib, numpy, nbformat' 2>/dev/null ||
  { echo "/usr/bin/python3 lacks matplotlib/numpy/nbformat: skip"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-notebooks.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PYDEVD_DISABLE_FILE_VALIDATION=1
"$src/scripts/notebooks.sh" --sdv "$sdv" --small --workdir "$work"
# Every executed notebook has at least one embedded PNG and no error output.
/usr/bin/python3 - "$work" <<'PY'
import glob, sys, nbformat
bad = 0
for path in sorted(glob.glob(sys.argv[1] + "/[0-9]*.ipynb")):
    nb = nbformat.read(path, 4)
    outs = [o for c in nb.cells for o in c.get("outputs", [])]
    pngs = sum("image/png" in o.get("data", {}) for o in outs)
    errs = [o for o in outs if o.get("output_type") == "error"]
    print(f"{path.rsplit('/', 1)[1]}: {pngs} plots, {len(errs)} errors")
    bad += pngs == 0 or len(errs) > 0
# The loader refuses malformed data instead of plotting it, and skips an absent check.
import os, pathlib
sys.path.insert(0, sys.argv[1])
os.environ["SDV_RESULTS"] = sys.argv[1] + "/bad"
pathlib.Path(sys.argv[1], "bad").mkdir()
import sdvplot
pathlib.Path(sys.argv[1], "bad", "x.csv").write_text("a,b\n1,2,3\n")
pathlib.Path(sys.argv[1], "bad", "y.csv").write_text("a,b\n1,oops\n")
for name, col in (("x", None), ("y", "b")):
    try:
        t = sdvplot.check(name)
        if col:
            t.num(col)
        print(f"{name}.csv: malformed data NOT detected"); bad += 1
    except sdvplot.MalformedData as e:
        print(f"{name}.csv: refused ({e})")
if sdvplot.check("no-such-check") is not None:
    print("absent check not reported as absent"); bad += 1
sys.exit(1 if bad else 0)
PY
