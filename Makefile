# visdet: setup and the README commands.
#   make parity     the main job: parity suite (goldens + live when the reference is here), report
#   make test       the whole suite (tests/ and parity/) with coverage
#   make mutation   mutation score of visdet/ops and visdet/models against the golden parity suite (slow)
#   make reference  build the reference environment (.venv-ref: mmdet 3.3.0, mmcv 2.1.0, mmengine 0.10.7)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.visdet-installed
REF_PY := .venv-ref/bin/python
PYTEST_ARGS ?=

.PHONY: setup parity test test-slow reference goldens verify-goldens rederive-goldens portability parity-live bench asv-compare gate lint clean fuzz soak soak-train rtmdet-synthetic docs docs-serve mutation mutation-rerun

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -c constraints.txt -e ".[test]"
	@touch $(STAMP)

setup: $(STAMP)

parity: $(STAMP)
	$(PY) -m pytest parity/ -n auto $(PYTEST_ARGS)

test: $(STAMP)
	$(PY) -m pytest tests/ parity/ -n auto --cov=visdet --cov-report=term:skip-covered $(PYTEST_ARGS)

# Full-size checks skipped by default (the ONNX export of Faster R-CNN R50-FPN against eager).
test-slow: $(STAMP)
	VISDET_SLOW=1 $(PY) -m pytest tests/ -m slow -p no:xdist $(PYTEST_ARGS)

reference:
	bash scripts/make_reference.sh

# Goldens are written by the reference only (never by visdet).
goldens: reference
	$(REF_PY) -m parity.golden generate $(if $(ONLY),--only $(ONLY),)

verify-goldens: $(STAMP)
	$(PY) -m parity.golden verify

# The reference writes every golden again into a scratch folder; each must agree with the
# committed one (inputs identical, results within the parity tolerances).
rederive-goldens: reference
	rm -rf reports/rederived-golden
	$(REF_PY) -m parity.golden generate --out reports/rederived-golden --inputs-from golden
	$(REF_PY) -m parity.golden rederive reports/rederived-golden

# The golden cases under imitated CPUs (also part of `make test`, as parity/test_portability.py).
portability: $(STAMP)
	$(PY) -m parity.portability

# The parity suite inside the reference environment: golden and live cases together.
parity-live: reference
	$(REF_PY) -m pytest parity/ -n auto $(PYTEST_ARGS)

# Per-component figures of this build (JSON + PNGs under reports/bench/).
bench: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[bench]"
	$(VENV)/bin/visdet bench ops -o reports/bench/ops.json
	$(VENV)/bin/visdet bench model --skip-slow -o reports/bench/model.json
	$(VENV)/bin/visdet bench report reports/bench/ops.json reports/bench/model.json -o reports/bench

# asv: this commit against main, as a markdown regression report (exit 1 on a regression).
asv-compare: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[bench]"
	$(VENV)/bin/asv machine --yes
	ASV_SKIP_SLOW=1 PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m benchmarks.report main HEAD --run

# The PR gate (successor of asv-compare): BASE and HEAD installed side by side, measured in
# interleaved pairs of fresh processes; markdown report, exit 0 / 1 regression / 2 error.
BASE ?= main
HEAD ?= HEAD
GATE_ARGS ?=
gate: $(STAMP)
	@mkdir -p reports/gate
	$(PY) -m benchmarks.gate --base $(BASE) --head $(HEAD) --json reports/gate/result.json \
		-o reports/gate/report.md $(GATE_ARGS)

lint: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt ruff
	$(PY) -m ruff check visdet parity tests

clean:
	rm -rf reports site .pytest_cache .hypothesis .coverage .coverage.*

# Every loader fuzzed with the full budget (10,000 generated cases each); the default test
# run keeps a fixed-seed slice of the same tests.
fuzz: $(STAMP)
	VISDET_FUZZ_EXAMPLES=10000 $(PY) -m pytest tests/fuzz -m fuzz -p no:randomly -q $(PYTEST_ARGS)

# Soak: inference_detector over 2,000 generated images in one process, RSS every 200 images
# (not part of `make test`; writes reports/soak.json).
soak: $(STAMP)
	nice -n 10 $(PY) scripts/soak_inference.py --images 2000 --every 200 --out reports/soak.json

# Training soak: a few thousand iterations of a reduced Faster R-CNN on the synthetic set, RSS every 200.
soak-train: $(STAMP)
	nice -n 10 $(PY) scripts/soak_training.py --iters 3000 --every 200 --out reports/soak_training.json

# RTMDet with its own recipe (mosaic/mixup, stage switch, EMA) on the synthetic set, about 25 minutes on 2 cores;
# writes the per-epoch curve to docs/assets/rtmdet_synthetic.{json,md,png} (shown in docs/training.md).
rtmdet-synthetic: $(STAMP)
	nice -n 5 $(PY) -m scripts.train_rtmdet_synthetic --out docs/assets/rtmdet_synthetic

# The documentation site (docs/, mkdocs.yml): built with --strict, so any warning (a broken
# internal link or anchor, a page missing from the nav, a docstring mkdocstrings cannot
# read) fails the build. Generated pages come from scripts/docs_gen.py at build time.
docs: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

# Mutation testing (not part of `make test`): a seeded sample of mutants of visdet/ops and
# visdet/models, each run against the parity tests that reach its line (goldens only, the
# reference hidden); reports/mutation.{md,json}. See parity/mutation.py.
MUTANTS ?= 240
SEED ?= 19
mutation: $(STAMP)
	nice -n 10 $(PY) -m parity.mutation --sample $(MUTANTS) --seed $(SEED)
# after adding cases for survivors: rerun only the survivors, mapping only the new tests
mutation-rerun: $(STAMP)
	nice -n 10 $(PY) -m parity.mutation --rerun-survivors --map-new-tests
