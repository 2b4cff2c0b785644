# polydemo: the two commands the README promises.
#   make demo   set-up + the whole stack + sample data + the tour scenario + the live dashboard
#   make test   set-up + the test suite (it starts its own stack on its own ports and directory)
.PHONY: setup demo test unit bench down

PD := .venv/bin/polydemo

setup:
	bash scripts/setup.sh

demo: setup
	$(PD) up
	$(PD) seed
	$(PD) scenario run tour
	$(PD) watch

test: setup
	.venv/bin/python -m pytest -v

unit: setup
	.venv/bin/python -m pytest -v tests/unit

bench: setup
	.venv/bin/python bench/stack_up.py

down:
	$(PD) down
