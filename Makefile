# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench docs lint clean

$(STAMP): setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	# torch is pinned here (a CPU wheel found on local disk) so that pip never pulls a CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m nca_world.sim.warmup
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/nca-world run scenarios/demo.toml

bench: $(STAMP)
	$(VENV)/bin/nca-world bench

docs: $(STAMP)  # the API reference from the docstrings, into docs/api/ (open docs/api/index.html)
	$(VENV)/bin/pdoc -o docs/api nca_world

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
