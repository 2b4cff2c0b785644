"""Scenarios: YAML data (scenarios/), validated (model, loader) and played (runner) against the stack."""
