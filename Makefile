# `make run` and `make test` build .venv on first use: torch's CPU wheel first
# (a plain `pip install torch` from PyPI pulls a multi-GB CUDA build), then the project.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is named by the content of what the venv is built from, not its date: a fresh
# checkout (newer files) over a cached .venv reuses it; an edit rebuilds it.
STAMP := $(VENV)/.fedarena-installed-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-16)
# PyTorch's CPU wheel index where it is reachable (a GitHub runner); otherwise pip's own
# configuration (here: a local wheel directory that holds the CPU build).
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX = $(shell $(PYTHON) -c "import urllib.request as u; \
	u.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=5)" 2>/dev/null && echo --index-url $(TORCH_CPU_INDEX))

.PHONY: run test lint format bench clean chromium prometheus bubblewrap smoke leaderboard check bench-compare

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(TORCH_INDEX)
	$(BIN)/python -m pip install --quiet -e '.[dev,monitoring,deploy,movielens,mlflow]'
	# byzfl is only a test oracle; its torchvision dependency would replace torch.
	$(BIN)/python -m pip install --quiet --no-deps byzfl==0.0.11
	rm -f $(VENV)/.fedarena-installed*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/fedarena run

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/targets.py

# pytest-benchmark against the saved run in benchmarks/baseline/ (docs/ci.md: same machine only).
BENCH_CASES := benchmarks/bench_aggregators.py benchmarks/bench_engine_round.py -k "fedarena or engine_round"
bench-compare: $(STAMP)
	$(BIN)/python -m pytest $(BENCH_CASES) --benchmark-enable \
		--benchmark-storage=file://benchmarks/baseline --benchmark-compare=0001 \
		--benchmark-compare-fail=mean:25%

# tests/leaderboard/test_leaderboard_browser.py opens index.html in Debian's headless Chromium.
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null) || echo "chromium unavailable: the browser test will skip"

# promtool checks the metrics and scrape config (tests/monitoring, tests/deploy); without it they skip.
prometheus:
	command -v promtool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
		|| echo "prometheus unavailable: the promtool tests will skip"

# Submitted code runs under bubblewrap (docs/submitting-a-defense.md); without it the sandbox
# says so and falls back to process limits, and the tests that need it skip.
bubblewrap:
	command -v bwrap >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null) \
		|| echo "bubblewrap unavailable: submitted code runs under process limits only"

smoke: $(STAMP)
	$(BIN)/fedarena matrix --scenario scenarios/smoke.toml --workers 2 --out results/smoke

# The regression gate (docs/ci.md): reruns the smoke matrix (about 35 s on 2 cores) and compares
# every cell with leaderboard/baseline.json. CHECK_FLAGS adds flags: --update-baseline, --out DIR.
check: $(STAMP)
	$(BIN)/fedarena check --baseline leaderboard/baseline.json --scenario scenarios/smoke.toml \
		--workers 2 $(CHECK_FLAGS)

# Regenerates the published leaderboard: the shop's card grid (600 cells, about 17 min on 2
# cores) and the FedRec matrix (780 cells, FedMF on MovieLens, docs/fedrec.md), resuming.
leaderboard: $(STAMP)
	$(BIN)/fedarena matrix --scenario scenarios/standard.toml --grid card --workers 2 --out results/standard
	$(BIN)/fedarena matrix --scenario scenarios/fedrec.toml --workers 2 --out results/fedrec
	$(BIN)/fedarena leaderboard results/standard results/fedrec --out leaderboard --doc docs/matrix.md

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
