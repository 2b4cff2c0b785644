# polydemo: the two commands the README promises.
#   make demo   set-up + the whole stack + sample data + the tour scenario + the live dashboard
#   make test   set-up + the test suite (it starts its own stack on its own ports and directory)
#   make wheel-check   build the wheel, install it outside the checkout, run it from an empty directory
#                      (WHEEL_CHECK_ARGS=--stack: also setup, up, seed, the tour and down, from the wheel)
#   make lock   regenerate requirements.lock and the Mongo server's hashed requirements after a pin change
.PHONY: setup demo test unit bench down wheel-check lock

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

wheel-check:
	bash scripts/check-wheel.sh $(WHEEL_CHECK_ARGS)

lock:
	bash scripts/lock.sh
