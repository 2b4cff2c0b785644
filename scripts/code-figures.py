#!/usr/bin/env python3
"""Print the code-shape figures issue 23 asks for, so a later change can be compared: the largest modules and
functions, POLYDEMO_* environment reads outside config.py, broad and silent exception handlers, client-library
imports above stores/, commands whose help has an Example, README lines. Usage: scripts/code-figures.py"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "polydemo"
CLIENTS = {"psycopg", "pymongo", "neo4j", "redis", "confluent_kafka", "httpx", "docker"}


def main() -> None:
    modules: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    env_reads: list[str] = []
    broad: list[str] = []
    silent: list[str] = []
    clients: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        tree = ast.parse(text)
        modules.append((len(text.splitlines()), rel))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.lineno} {node.name}"))
            elif rel != "polydemo/config.py" and (name := _env_read(node)):
                env_reads.append(f"{rel}:{node.lineno} {name}")
            elif isinstance(node, ast.ExceptHandler):
                names = [node.type] if not isinstance(node.type, ast.Tuple) else list(node.type.elts)
                if node.type is None or any(
                    isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names
                ):
                    broad.append(f"{rel}:{node.lineno}")
                if len(node.body) == 1 and isinstance(node.body[0], (ast.Pass, ast.Continue)):
                    line = text.splitlines()[node.body[0].lineno - 1]
                    if "#" not in line and "#" not in text.splitlines()[node.lineno - 1]:
                        silent.append(f"{rel}:{node.lineno}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and not rel.startswith(
                ("polydemo/stores/", "polydemo/runtime/")
            ):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for m in mods:
                    if m.split(".")[0] in CLIENTS:
                        clients.append(f"{rel}:{node.lineno} {m}")
    modules.sort(reverse=True)
    functions.sort(reverse=True)
    print("largest modules:", "; ".join(f"{p} {n}" for n, p in modules[:3]))
    print("largest functions:", "; ".join(f"{p} {n}" for n, p in functions[:3]))
    print(f"POLYDEMO_* names outside config.py: {len(env_reads)}", *env_reads, sep="\n  ")
    print(f"except Exception/BaseException/bare: {len(broad)}")
    print(f"silent handlers (pass/continue, no comment): {len(silent)}", *silent, sep="\n  ")
    print(f"client-library imports outside stores/ and runtime/: {len(clients)}", *clients, sep="\n  ")
    helps = subprocess.run([sys.executable, "-c", _HELP], capture_output=True, text=True, cwd=ROOT)
    if helps.returncode:
        sys.exit(f"could not list the commands: {helps.stderr.strip().splitlines()[-1:]}")
    counts = helps.stdout.split()
    print(f"commands with an Example in their help: {counts[0]} of {counts[1]}")
    print(f"README.md lines: {len((ROOT / 'README.md').read_text().splitlines())}")


def _is_environ(node: ast.AST) -> bool:
    if isinstance(node, ast.IfExp):
        return _is_environ(node.body) or _is_environ(node.orelse)
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id in ("environ", "env")
    )


def _env_read(node: ast.AST) -> str | None:
    """The POLYDEMO_* name read by ``os.environ.get(…)``, ``os.getenv(…)`` or ``os.environ[…]`` (a read)."""
    key: ast.AST | None = None
    if isinstance(node, ast.Call) and node.args:
        f = node.func
        is_get = isinstance(f, ast.Attribute) and f.attr == "get" and _is_environ(f.value)
        is_getenv = (isinstance(f, ast.Attribute) and f.attr == "getenv") or (
            isinstance(f, ast.Name) and f.id == "getenv"
        )
        if is_get or is_getenv:
            key = node.args[0]
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
        key = node.slice
    if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.startswith("POLYDEMO_"):
        return key.value
    return None


_HELP = """
import typer.main
from polydemo.cli import app
cmd = typer.main.get_command(app)
def walk(c):
    if hasattr(c, "commands"):  # a group (typer vendors click since 0.2x)
        for sub in c.commands.values():
            yield from walk(sub)
    else:
        yield c
cmds = list(walk(cmd))
print(sum('Example' in (c.help or '') or 'Example' in (c.epilog or '') for c in cmds), len(cmds))
"""

if __name__ == "__main__":
    main()
