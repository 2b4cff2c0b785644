"""What every command receives: the Environment (consoles, --json), the Settings and the application
object (``polydemo.app.Demo``), each built once per command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from polydemo.config import Settings
from polydemo.console import Environment
from polydemo.errors import ExitStatus, PolydemoError

if TYPE_CHECKING:
    from polydemo.app import Demo


@dataclass
class AppState:
    env: Environment = field(default_factory=Environment)
    home: Path | None = None
    runtime_name: str | None = None
    traceback: bool = False  # --traceback: re-raise errors with their traceback
    _settings: Settings | None = None
    _choice: object | None = None
    _demo: Any = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env(home=self.home, runtime=self.runtime_name)
        return self._settings

    def use_kafka_brokers(self, brokers: int) -> None:
        """``up --kafka-brokers N``: this command's Settings run N brokers (Settings.with_kafka_brokers says
        when that is refused). Call it before the runtime is made."""
        self._settings = self.settings.with_kafka_brokers(brokers)

    def runtime_choice(self):
        """Which runtime, and why (runtime/choice.py); decided once per command."""
        if self._choice is None:
            from polydemo.runtime import choose_runtime

            self._choice = choose_runtime(self.settings)
        return self._choice

    def runtime(self):
        from polydemo.runtime import get_runtime

        return get_runtime(self.settings, self.runtime_choice())


def demo(ctx: typer.Context) -> Demo:
    """The application object for this command (compose v1's ``project_from_options``): made once from the
    Settings, the runtime (chosen on first use) and one Stores bundle, closed when the command ends."""
    st = state(ctx)
    if st._demo is None:
        from polydemo.app import Demo

        st._demo = Demo(st.settings, make_runtime=st.runtime, runtime_name=lambda: st.runtime_choice().name)
        ctx.find_root().call_on_close(st._demo.close)
    return st._demo


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = AppState()
    return root.obj


def with_json(ctx: typer.Context, json_flag: bool) -> AppState:
    st = state(ctx)
    if json_flag:
        st.env.json = True
    return st


def command(app: typer.Typer, name: str) -> Callable:
    """Register ``fn`` as ``name``; a PolydemoError becomes one clear message and its exit code.

    With ``polydemo --traceback`` every error is re-raised instead, with its full traceback (and its cause).
    """

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(ctx: typer.Context, *args, **kwargs):
            try:
                return fn(ctx, *args, **kwargs)
            except PolydemoError as exc:
                if state(ctx).traceback:
                    raise
                state(ctx).env.error(exc.message, hint=exc.hint, details=exc.details)
                raise typer.Exit(exc.exit_code) from None
            except Exception as exc:
                store = store_of(exc)
                if store is None or state(ctx).traceback:
                    raise
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                if out_of_space(exc):  # it answered, and refused: reaching it is not the problem
                    state(ctx).env.error(
                        f"{store} is out of disk space, nothing was written: {first}",
                        hint="`polydemo status` names the full directory; free space there and write again",
                    )
                    raise typer.Exit(ExitStatus.ERROR) from None
                message, hint = unreachable_message(store, exc, full_disk(state(ctx)))
                state(ctx).env.error(message, hint=hint)
                raise typer.Exit(ExitStatus.STORE_UNREACHABLE) from None

        app.command(name)(wrapper)
        return fn

    return decorate


def unreachable_message(store: str, exc: BaseException, full: str | None = None) -> tuple[str, str]:
    """The one line (and its hint) for a store client's error: "not answering" when the server took the
    connection and said nothing in time (frozen, paused, overloaded), else "cannot reach", whose hint names a
    full data directory (``full``) when there is one (pure)."""
    from polydemo.errors import silent

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if silent(exc):
        reason = first.split(" (", 1)[0].split(", ", 1)[0][:100]  # pymongo appends its whole topology
        return (
            f"{store} is not answering: {reason}",
            "it took the connection but did not reply in time (frozen, paused or overloaded); nothing was "
            "acknowledged, though a write may still land when it wakes. `polydemo status` shows which service; "
            "`polydemo up` resumes a paused one",
        )
    if full:
        return f"cannot reach {store}: {first[:200]}", f"{full}; `polydemo status` says what stopped"
    return f"cannot reach {store}: {first[:200]}", "is the stack up? `polydemo status` shows each service; " + (
        "`polydemo up` starts it"
    )


DISK_FULL_SQLSTATE = "53100"  # PostgreSQL's disk_full (psycopg.errors.DiskFull)


def out_of_space(exc: BaseException) -> bool:
    """A store's refusal for want of disk space: PostgreSQL's SQLSTATE 53100 ("could not extend file ...: No space
    left on device"), read off the exception without importing its client library (the layers forbid it here)."""
    return getattr(exc, "sqlstate", None) == DISK_FULL_SQLSTATE


def full_disk(st: AppState) -> str | None:
    """The first full data directory of this home, as one line (why a store may not answer), or None."""
    from polydemo import diskspace
    from polydemo.config import SERVICES

    try:
        found = diskspace.full(diskspace.check(st.settings, SERVICES))
    except Exception:  # noqa: BLE001 - a settings problem: the error being reported matters more
        return None
    return diskspace.line(found[0], running=False) if found else None


def store_of(exc: BaseException) -> str | None:
    """Which store an unexpected client error came from (None: a bug, shown as such)."""
    from polydemo.stores import BY_CLIENT

    store = BY_CLIENT.get(type(exc).__module__.split(".")[0])
    return None if store is None else store.label
