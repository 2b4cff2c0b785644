# polydemo: the two commands the README promises.
#   make demo   set-up + the whole stack (and the web view on 127.0.0.1:4000) + sample data + the tour scenario +
#               the live dashboard
#   make test   set-up + the test suite (it starts its own stack on its own ports and directory); the browser
#               tests' chromium + chromium-driver from apt when missing (scripts/browser.sh)
#   make unit   the unit tests only (no stack, no apt, no jars: just the venv), in seconds
#   make lint   ruff (check + format --check) and mypy
#   make wheel-check   build the wheel, install it outside the checkout, run it from an empty directory
#                      (WHEEL_CHECK_ARGS=--stack: also setup, up, seed, the tour and down, from the wheel)
#   make bench  every figure of the performance targets on a stack of its own (bench/all.py, ~10 min;
#               BENCH_ARGS="--offset N" for other ports, "--quick" for a smoke run)
#   make lock   regenerate requirements.lock and the Mongo server's hashed requirements after a pin change
#   make docker-test  the docker runtime on a real engine: scripts/docker-harness.sh installs Debian's
#               dockerd + Docker Compose v5.6.0, starts a private dockerd, builds stand-in images, runs
#               tests/docker (ports offset 30000) and stops that dockerd again (needs root)
.PHONY: setup venv demo test unit lint bench down wheel-check lock docker-test

PD := .venv/bin/polydemo

setup:
	bash scripts/setup.sh

demo: setup
	$(PD) up --web
	$(PD) seed
	$(PD) scenario run tour
	$(PD) watch

test: setup
	bash scripts/browser.sh
	.venv/bin/python -m pytest -v

venv:
	bash scripts/venv.sh

unit: venv
	.venv/bin/python -m pytest -q -m "not integration"

lint: venv
	.venv/bin/ruff check polydemo tests
	.venv/bin/ruff format --check polydemo tests
	.venv/bin/mypy polydemo

docker-test: setup
	bash scripts/docker-harness.sh test

bench: setup
	.venv/bin/python bench/all.py $(BENCH_ARGS)

down:
	$(PD) down

wheel-check:
	bash scripts/check-wheel.sh $(WHEEL_CHECK_ARGS)

lock:
	bash scripts/lock.sh
