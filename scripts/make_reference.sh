#!/usr/bin/env bash
# Build the reference environment (mmdet 3.3.0 + mmengine 0.10.7 + mmcv 2.1.0 with
# its compiled CPU ops, on torch 2.13.0 CPU) in its own virtual environment.
#
# mmcv 2.1.0 ships no wheel for torch 2.13, so it is compiled from its source
# package (about 15 minutes on 2 cores); pip caches the built wheel, so a rebuilt
# environment reuses it. Running this script again when the environment already
# imports the reference is a no-op.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
VENV="${REF_VENV:-.venv-ref}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CONSTRAINTS="$HERE/constraints.txt"
cd "$HERE"

check() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import mmcv, mmdet, mmengine, torch
from mmcv.ops import nms, roi_align  # needs the compiled ops
assert mmcv.__version__ == "2.1.0" and mmdet.__version__ == "3.3.0" and mmengine.__version__ == "0.10.7"
assert torch.__version__.startswith("2.13.0")
# visdet's own requirements (runtime + test extras) as pyproject.toml lists them now
import importlib.metadata as md, re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    md.version(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0])
import visdet
PY
}

if check; then
  echo "reference environment $VENV is ready (mmdet 3.3.0, mmengine 0.10.7, mmcv 2.1.0); nothing to do"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -c "$CONSTRAINTS" torch==2.13.0 numpy wheel ninja
$PIP install --no-deps mmengine==0.10.7 mmdet==3.3.0
$PIP install -c "$CONSTRAINTS" addict rich termcolor yapf opencv-python-headless matplotlib \
  pycocotools scipy shapely terminaltables tqdm packaging pyyaml regex pillow six psutil
# the reference also runs the parity suite live, so it gets visdet's test extras
$PIP install -c "$CONSTRAINTS" -e "$HERE[test]"
# torch 2.13 declares setuptools>=77, but mmcv's setup.py imports pkg_resources, which
# setuptools dropped in 70: step setuptools down on purpose right before building mmcv
# (pip warns about torch's requirement; torch does not need setuptools at run time).
$PIP install "setuptools<70"
MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" $PIP install --no-deps --no-build-isolation mmcv==2.1.0

check || { echo "reference environment built but mmcv/mmdet do not import" >&2; exit 1; }
echo "reference environment $VENV is ready"
