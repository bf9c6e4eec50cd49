# proxygrad-bench: the two set-up commands are `make reproduce` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROFILE ?= quick
OUT    ?= results/$(PROFILE)
# Cells run on a local Dask cluster of one single-threaded worker per core (records are identical to a
# serial run: tests/test_dask_executor.py); EXECUTOR=local runs them one after another.
EXECUTOR ?= dask
STAMP  := $(VENV)/.installed

.PHONY: setup data test reproduce baselines spread spread-quick bench bench-check clean

# Create the virtual environment when missing and install the project with pinned versions.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Real data (Fashion-MNIST): Debian's package where apt is usable, else torchvision's download.
data: $(STAMP)
	$(PY) -m benchmarks data

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --benchmark-disable

reproduce: $(STAMP)
	$(MAKE) data
	$(PY) -m benchmarks reproduce --profile $(PROFILE) --out $(OUT) --executor $(EXECUTOR)

# Rewrite every committed regression baseline from the current code (prints each diff). The cnn-am smoke
# baseline is made on the tests' tiny Fashion-MNIST sample, the data `make test` checks it with.
SAMPLE := .cache/fashion-mnist-sample
baselines: $(STAMP)
	$(PY) -m benchmarks data --sample $(SAMPLE)
	$(PY) -m benchmarks baseline toy-am --profile smoke --update $(SPREAD_ARGS_toy-am)
	for e in toy-am cnn-am training; do \
	  $(PY) -m benchmarks baseline $$e --profile quick --from results/quick/$$e --update \
	    $$(for f in results/quick/perturb/$$e/*-spread/spread.json; do printf ' --spread %s' $$f; done) || exit 1; \
	done
	$(PY) -m benchmarks baseline cnn-am --profile smoke --data $(SAMPLE) --update $(SPREAD_ARGS_cnn-am)
	$(PY) -m benchmarks baseline training --profile smoke --update $(SPREAD_ARGS_training)
	PYTHONPATH=examples/byo_example $(PY) -m benchmarks baseline toy-am --profile smoke \
	  --config examples/byo_example/configs/toy-am.toml --baseline examples/byo_example/baselines/toy-am-smoke.json --update

# Measure how far the smoke profiles move under another CPU's float kernels (benchmarks/framework/perturbation.py)
# and commit the summaries the baselines' tolerances are calibrated to (results/baselines/spread/).
SPREAD_DIR := .cache/spread
SPREAD_OUT := results/baselines/spread
SPREAD_KINDS := --kind avx2 --kind sse41
SPREAD_ARGS_toy-am := --spread $(SPREAD_OUT)/toy-am-smoke-avx2.json --spread $(SPREAD_OUT)/toy-am-smoke-sse41.json
SPREAD_ARGS_cnn-am := --spread $(SPREAD_OUT)/cnn-am-smoke-avx2.json --spread $(SPREAD_OUT)/cnn-am-smoke-sse41.json
SPREAD_ARGS_training := --spread $(SPREAD_OUT)/training-smoke-avx2.json --spread $(SPREAD_OUT)/training-smoke-sse41.json
spread: $(STAMP)
	$(PY) -m benchmarks data --sample $(SAMPLE)
	rm -rf $(SPREAD_DIR) && mkdir -p $(SPREAD_OUT)
	for e in toy-am cnn-am training; do \
	  $(PY) -m benchmarks perturb $$e --profile smoke --data $(SAMPLE) --out $(SPREAD_DIR)/$$e $(SPREAD_KINDS) || exit 1; \
	  for k in avx2 sse41; do cp $(SPREAD_DIR)/$$e/$$k-spread/spread.json $(SPREAD_OUT)/$$e-smoke-$$k.json; done; \
	done

# The same for the committed quick records (about 1.5 hours per kernel set on 2 cores: cnn-am's is most of it):
# each experiment reruns under avx2 and sse41 against results/quick/EXPERIMENT, and the report and the quick
# baselines read the spreads from results/quick/perturb/EXPERIMENT/KIND-spread/.
spread-quick: $(STAMP)
	$(MAKE) data
	for e in toy-am cnn-am training; do \
	  $(PY) -m benchmarks perturb $$e --profile quick --out results/quick/perturb/$$e --reference results/quick/$$e \
	    $(SPREAD_KINDS) --executor $(EXECUTOR) || exit 1; \
	done

bench: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider benchmarks/perf --benchmark-only --benchmark-autosave --benchmark-storage=.benchmarks -s

bench-check: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider benchmarks/perf --benchmark-only --benchmark-storage=.benchmarks --benchmark-compare --benchmark-compare-fail=median:25% -s

clean:
	rm -rf $(VENV) .benchmarks .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
