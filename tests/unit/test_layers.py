"""The import layers: a module may import its own layer and the layers below it, never one above.

    (cli, web) > app > scenario > dashboard > (stack, seed, reset, reads, load, doctor, rehearse) > pipeline
        > domain > runtime > stores > (config, console, errors, procs)

The faces (``cli/``, the coming ``web/``) may import the application layer (``app``: every use case once);
it imports every layer below; nothing below imports it (the scenario runner is handed the app object).

Every import counts, also those inside functions (imported on use) and under TYPE_CHECKING: the
source is parsed with ``ast``, nothing is imported. ``views`` (Rich tables for the CLI) sits with the
dashboard. KNOWN lists tolerated violations (none today); the test fails on a new one, and also when
a known one is gone (so the list only shrinks).

Above ``stores/`` no module but ``pipeline/`` imports a store's client library (CLIENT_LIBRARIES): the
gateways raise polydemo's own errors (KNOWN_CLIENTS: the tolerated ones, which also only shrink).
"""

from __future__ import annotations

import ast
from pathlib import Path

import polydemo

ROOT = Path(polydemo.__file__).parent

LAYERS: list[set[str]] = [  # highest first
    {"cli", "web"},  # the faces
    {"app"},  # the use cases, once
    {"scenario"},
    {"dashboard", "views"},
    {"stack", "seed", "reset", "reads", "load", "doctor", "provision", "rehearse"},
    {"pipeline"},
    {"domain"},
    {"runtime"},
    {"stores"},
    {"config", "console", "errors", "procs", "resources", "_shipped", "download", "diskspace"},
]
RANK = {name: len(LAYERS) - i for i, group in enumerate(LAYERS) for name in group}

# (importer module, imported layer's module) that are tolerated for now. Empty: when this test was
# written (issue 10) no module imported a higher layer. Add a pair only with a comment saying when it goes.
KNOWN: set[tuple[str, str]] = set()


def component(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "polydemo" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in RANK else None


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, at any depth; ``from polydemo import seed`` counts as polydemo.seed."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def violations(root: Path = ROOT) -> set[tuple[str, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        mine = component(me)
        if mine is None:
            continue  # polydemo/__init__.py, __main__.py: the entry points sit above every layer
        for target in imports_of(path, root):
            theirs = component(target)
            if theirs is not None and RANK[theirs] > RANK[mine]:
                found.add((me, f"polydemo.{theirs}"))
    return found


def test_no_module_imports_a_higher_layer():
    found = violations()
    new, gone = found - KNOWN, KNOWN - found
    assert not new, "a lower layer imports a higher one:\n" + "\n".join(f"  {a} -> {b}" for a, b in sorted(new))
    assert not gone, "fixed (remove from KNOWN):\n" + "\n".join(f"  {a} -> {b}" for a, b in sorted(gone))


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "polydemo"
    (pkg / "stores").mkdir(parents=True)
    (pkg / "stores" / "probe.py").write_text(
        "import os\nfrom polydemo.config import Settings\n\n"
        "def f():\n    from polydemo.cli import app\n    from . import sibling\n    from .. import seed\n"
    )
    got = imports_of(pkg / "stores" / "probe.py", pkg)
    assert {
        "os",
        "polydemo.config",
        "polydemo.cli",
        "polydemo.cli.app",
        "polydemo.stores.sibling",
        "polydemo.seed",
    } <= got
    assert violations(pkg) == {("polydemo.stores.probe", "polydemo.cli"), ("polydemo.stores.probe", "polydemo.seed")}


def test_the_faces_sit_above_the_app_and_the_app_above_the_rest():
    assert RANK["cli"] == RANK["web"] > RANK["app"] > max(RANK[m] for m in RANK if m not in ("cli", "web", "app"))


def test_a_lower_layer_importing_the_app_is_caught(tmp_path):
    pkg = tmp_path / "polydemo"
    (pkg / "scenario").mkdir(parents=True)
    (pkg / "scenario" / "probe.py").write_text("from polydemo.app import Demo\n")
    (pkg / "app.py").write_text("from polydemo.scenario import runner\nfrom polydemo.cli import context\n")
    assert violations(pkg) == {("polydemo.scenario.probe", "polydemo.app"), ("polydemo.app", "polydemo.cli")}


# The stores' client libraries (``cimpl`` is confluent_kafka's C module). Only ``stores/`` speaks them, and
# ``pipeline/``, which is Kafka-native (the projector loop, the relay and the dual write hold Consumers and
# Producers of their own). Every other module above ``stores/`` gets polydemo's errors from the gateways
# (``polydemo.errors``: AlreadyExists, StoreTimeout, StoreUnreachable) and never catches a client's.
CLIENT_LIBRARIES = {"psycopg", "psycopg_pool", "pymongo", "bson", "neo4j", "redis", "confluent_kafka", "cimpl", "httpx"}
CLIENT_SPEAKERS = {"stores", "pipeline"}

# (module, client library) tolerated for now; the test fails on a new one and when a known one is gone.
KNOWN_CLIENTS: set[tuple[str, str]] = set()  # none left (stack.py's psycopg went with Users.slot_if_up)


def client_imports(root: Path = ROOT) -> set[tuple[str, str]]:
    """(module, client library) for every module above ``stores/`` that imports one, outside CLIENT_SPEAKERS."""
    found = set()
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        mine = component(me)
        if mine is None or mine in CLIENT_SPEAKERS or RANK[mine] <= RANK["stores"]:
            continue
        found |= {(me, lib) for lib in {t.split(".")[0] for t in imports_of(path, root)} & CLIENT_LIBRARIES}
    return found


def test_no_module_above_the_stores_imports_a_client_library_but_the_pipeline():
    found = client_imports()
    new, gone = found - KNOWN_CLIENTS, KNOWN_CLIENTS - found
    assert not new, "a client library above stores/ (raise a polydemo error in the gateway):\n" + "\n".join(
        f"  {a} imports {b}" for a, b in sorted(new)
    )
    assert not gone, "fixed (remove from KNOWN_CLIENTS):\n" + "\n".join(f"  {a} -> {b}" for a, b in sorted(gone))


def test_the_client_check_sees_function_level_imports_and_spares_stores_pipeline_and_the_bottom(tmp_path):
    pkg = tmp_path / "polydemo"
    for layer in ("domain", "stores", "pipeline", "dashboard"):
        (pkg / layer).mkdir(parents=True)
    (pkg / "domain" / "probe.py").write_text("def f():\n    import psycopg.errors\n")
    (pkg / "dashboard" / "probe.py").write_text("from pymongo.errors import NetworkTimeout\n")
    (pkg / "stores" / "probe.py").write_text("import psycopg\n")
    (pkg / "pipeline" / "probe.py").write_text("from confluent_kafka import Consumer\n")
    (pkg / "download.py").write_text("import httpx\n")  # below the stores: HTTPS downloads, not a store
    assert client_imports(pkg) == {("polydemo.domain.probe", "psycopg"), ("polydemo.dashboard.probe", "pymongo")}


def test_every_module_has_a_layer():
    """A new top-level module must be placed in LAYERS (or it would escape the check)."""
    names = {p.stem for p in ROOT.glob("*.py")} | {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert names - {"__init__", "__main__"} <= set(RANK), sorted(names - set(RANK) - {"__init__", "__main__"})
