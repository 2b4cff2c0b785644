# polydemo: the two commands the README promises.
#   make demo   set-up + the whole stack + sample data + the tour scenario + the live dashboard
#   make test   set-up + the test suite (it starts its own stack on its own ports and directory)
#   make docker-test  the docker runtime on a real engine: scripts/docker-harness.sh installs Debian's
#               dockerd + Docker Compose v5.6.0, starts a private dockerd, builds stand-in images, runs
#               tests/docker (ports offset 30000) and stops that dockerd again (needs root)
.PHONY: setup demo test unit bench down docker-test

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

docker-test: setup
	bash scripts/docker-harness.sh test

unit: setup
	.venv/bin/python -m pytest -v tests/unit

bench: setup
	.venv/bin/python bench/stack_up.py

down:
	$(PD) down
