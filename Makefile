# `make demo` and `make test` set up .venv on a fresh machine and run the demo / the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt

.PHONY: demo test test-all bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Core install: what a user gets from `pip install embedb` (no torch).
$(VENV)/.core: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) -e .
	touch $@

# Test install: core + test tools + the optional extras the tests exercise (torch CPU first).
$(VENV)/.test: $(VENV)/.core
	$(PIP) torch==2.13.0
	$(PIP) -e ".[test,torch,sentence-transformers,model2vec,zh,parquet,geo,remote,serve,frameworks,reference]"
	# LlamaIndex's Milvus store pins pymilvus<3 but runs on pymilvus 3 (tests/test_server_frameworks.py)
	$(PIP) --no-deps llama-index-vector-stores-milvus==1.2.0
	# the C++ Milvus server of milvus-lite 2.5.1, in a side folder (its package name clashes with
	# milvus-lite 3): the remote and migrate tests run against it (tests/milvus_server.py); on a
	# platform without the wheel those tests skip, saying why
	-$(PY) -m pip install -q --no-deps --target $(VENV)/milvus-lite-2.5.1 milvus-lite==2.5.1 \
		&& chmod +x $(VENV)/milvus-lite-2.5.1/milvus_lite/lib/milvus
	touch $@

demo: $(VENV)/.core
	$(PY) -m embedb.demo $(DEMO_ARGS)

test: $(VENV)/.test
	@# the Node SDK test (tests/test_server_node.py) skips itself, with the reason, where npm is unreachable
	-cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# everything, the long kill loops, stress and sweep variants (@pytest.mark.slow) included
test-all: $(VENV)/.test
	-cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	$(PY) -m pytest -q $(PYTEST_ARGS)

# the peers the benchmarks run side by side with embedb (LanceDB, hnswlib, Chroma, bm25s, Milvus Lite)
$(VENV)/.bench: $(VENV)/.test
	$(PIP) -e ".[bench]"
	touch $@

bench: $(VENV)/.bench
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
