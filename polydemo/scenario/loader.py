"""Loading scenarios: YAML -> Scenario, every error as ``file:line:column: what was wrong; what was expected``."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from polydemo import resources
from polydemo.errors import ExitStatus, PolydemoError
from polydemo.scenario.model import STEP_KINDS, STEPS, Scenario

BUILTIN = "built-in"
BUILTIN_PREFIX = "builtin:"
USER_DIR = Path("scenarios")  # the user's own, relative to the working directory


class ScenarioError(PolydemoError):
    exit_code = ExitStatus.USAGE


@dataclass
class Loaded:
    name: str
    path: Path
    scenario: Scenario
    step_lines: list[int]


@dataclass
class Entry:
    """One scenario file found by name: where it is, where it came from, and what it hides or is hidden by."""

    name: str
    path: Path
    source: str  # "built-in", or the user directory as given
    shadowed_by: Path | None = None  # set on an entry a user file with the same name takes precedence over

    @property
    def effective(self) -> bool:
        return self.shadowed_by is None


def builtin_dir() -> Path:
    return resources.require(resources.SCENARIOS)


def user_dirs(extra: Sequence[Path] = (), include_cwd: bool = True) -> list[Path]:
    """The user's scenario directories, highest precedence first: each --scenarios DIR, then ./scenarios."""
    dirs: list[Path] = []
    for d in extra:
        d = Path(d).expanduser()
        if not d.is_dir():
            raise ScenarioError(f"--scenarios {d}: no such directory", hint="give a directory of scenario .yaml files")
        dirs.append(d)
    if include_cwd and USER_DIR.is_dir():
        dirs.append(USER_DIR)
    return dirs


def catalogue(extra: Sequence[Path] = (), include_cwd: bool = True) -> list[Entry]:
    """Every scenario by name: the user's (``--scenarios`` DIRs, then ``./scenarios``) and the built-ins.

    A user's file with a built-in's (or an earlier directory's) name takes precedence, and the hidden
    entry is kept with ``shadowed_by`` set, so that it is reported instead of silently dropped. The
    built-in directory itself (``./scenarios`` when run from the repository root) is not a user directory.
    """
    builtin = builtin_dir().resolve()
    seen: dict[str, Entry] = {}
    out: list[Entry] = []
    sources = [(d, f"{d}") for d in user_dirs(extra, include_cwd) if d.resolve() != builtin]
    sources.append((builtin, BUILTIN))
    done: set[Path] = set()
    for directory, label in sources:
        if directory.resolve() in done:
            continue
        done.add(directory.resolve())
        for p in sorted(directory.glob("*.yaml")):
            entry = Entry(p.stem, p, label)
            if p.stem in seen:
                entry.shadowed_by = seen[p.stem].path
            else:
                seen[p.stem] = entry
            out.append(entry)
    return sorted(out, key=lambda e: (e.name, not e.effective))


def available(extra: Sequence[Path] = (), include_cwd: bool = True) -> dict[str, Path]:
    """Name -> file, for the names that resolve (user files over built-ins)."""
    return {e.name: e.path for e in catalogue(extra, include_cwd) if e.effective}


def resolve(name_or_file: str, extra: Sequence[Path] = (), warn: Callable[[str], None] | None = None) -> Path:
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ScenarioError(f"{name_or_file}: no such file", hint="give a path to a scenario YAML file")
        return path
    entries = catalogue(extra)
    if name_or_file.startswith(BUILTIN_PREFIX):
        name = name_or_file.removeprefix(BUILTIN_PREFIX)
        for e in entries:
            if e.name == name and e.source == BUILTIN:
                return e.path
        names = sorted({e.name for e in entries if e.source == BUILTIN})
        raise ScenarioError(f"no built-in scenario {name!r}", hint=f"built-ins: {', '.join(names)}")
    effective = {e.name: e for e in entries if e.effective}
    if name_or_file in effective:
        chosen = effective[name_or_file]
        hidden = [e for e in entries if e.name == name_or_file and not e.effective]
        if hidden and warn is not None:
            what = ", ".join(f"the built-in {e.name!r}" if e.source == BUILTIN else str(e.path) for e in hidden)
            tail = f"; `builtin:{name_or_file}` runs the built-in" if any(e.source == BUILTIN for e in hidden) else ""
            warn(f"{chosen.path} takes precedence over {what}{tail}")
        return chosen.path
    close = difflib.get_close_matches(name_or_file, list(effective), n=1)
    raise ScenarioError(
        f"unknown scenario {name_or_file!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
        hint=f"available: {', '.join(effective)}; or give a path to a .yaml file",
    )


def load(name_or_file: str, extra: Sequence[Path] = (), warn: Callable[[str], None] | None = None) -> Loaded:
    path = resolve(name_or_file, extra, warn)
    loaded = parse(path.read_text(), path)
    if name_or_file.startswith(BUILTIN_PREFIX):
        loaded.name = name_or_file.removeprefix(BUILTIN_PREFIX)
    return loaded


def _node_at(root: yaml.Node, loc: tuple) -> yaml.Node:
    """The deepest YAML node along a pydantic error location (for its line and column)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == part or (part == "from_" and k.value == "from"):
                    nxt = v
                    break
            if nxt is None and part == "condition":
                continue  # wait_until/expect conditions sit directly under the step kind
            if nxt is None:
                return node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
                node = node.value[0][1] if isinstance(node.value[0][1], yaml.MappingNode) else node
        else:
            return node
    return node


def parse(text: str, path: Path) -> Loaded:
    where = str(path)
    try:
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        # Point at where the broken construct starts (an unclosed quote's opening, say), not where
        # the parser gave up; say both.
        mark = exc.context_mark or exc.problem_mark
        detail = f"{exc.context} at line {exc.context_mark.line + 1}, " if exc.context and exc.context_mark else ""
        raise ScenarioError(
            f"{where}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {detail}{exc.problem}"
            f" (line {exc.problem_mark.line + 1})",
            hint="fix the YAML: unclosed quotes or brackets, indentation, a missing colon",
        ) from exc
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ScenarioError(
            f"{where}:1:1: a scenario is a mapping with title, description and steps",
            hint="start the file with `title: ...`",
        )
    data = yaml.safe_load(text)
    steps_node = next((v for k, v in root.value if k.value == "steps"), None)
    step_lines = [n.start_mark.line + 1 for n in steps_node.value] if isinstance(steps_node, yaml.SequenceNode) else []
    # Step shape errors first, with the kinds a user can write.
    if isinstance(steps_node, yaml.SequenceNode):
        for i, node in enumerate(steps_node.value):
            raw = data["steps"][i]
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            if not isinstance(raw, dict) or not raw:
                raise ScenarioError(
                    f"{where}:{line}:{col}: step {i + 1} must be a `kind: parameters` mapping",
                    hint=f'for example `- say: "hello"`; kinds: {", ".join(STEP_KINDS)}',
                )
            kinds = [k for k in raw if k in STEP_KINDS]
            kind = kinds[0] if kinds else next(iter(raw))
            if len(kinds) > 1:
                raise ScenarioError(
                    f"{where}:{line}:{col}: step {i + 1} names two step kinds ({', '.join(kinds)})",
                    hint="one step per list item: start a new `- ` line for the second",
                )
            if kind not in STEP_KINDS:
                close = difflib.get_close_matches(str(kind), STEP_KINDS, n=1)
                raise ScenarioError(
                    f"{where}:{line}:{col}: unknown step kind {kind!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else ""),
                    hint=f"step kinds are: {', '.join(STEP_KINDS)}",
                )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _TAGS))
        node = _node_at(root, loc)
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        parts = [str(p) for p in loc if p != "condition"]
        if len(parts) >= 2 and parts[0] == "steps" and parts[1].isdigit():
            parts = [f"step {int(parts[1]) + 1}", ".".join(parts[2:])] if parts[2:] else [f"step {int(parts[1]) + 1}"]
        field = " ".join(p for p in parts if p).replace("from_", "from")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = f"missing field {loc[-1]!r}"
        elif err["type"] == "extra_forbidden":
            msg = f"unexpected field {loc[-1]!r}"
        raise ScenarioError(
            f"{where}:{line}:{col}: {field}: {msg}",
            hint=_hint(err),
            details=f"({len(exc.errors())} problem(s) in all)" if len(exc.errors()) > 1 else None,
        ) from exc
    return Loaded(path.stem, path, scenario, step_lines)


_TAGS = set(STEPS)  # the kind segment pydantic adds to an error location


def _hint(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "add the field; `polydemo scenario show tour` shows complete steps"
    if kind == "extra_forbidden":
        return "remove it, or check its spelling against the step's fields"
    if kind.endswith("_parsing") or kind.endswith("_type"):
        return f"expected {kind.split('_')[0]}"
    return "see docs/scenarios.md (The format) for the step reference; `polydemo scenario show tour` shows an example"
