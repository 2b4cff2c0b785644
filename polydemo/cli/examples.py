"""An ``Example:`` under every command's help, as sqlite-utils does, kept in one place.

``EXAMPLES`` maps a command's full path ("up", "scenario run", "projector scale"; "" is ``polydemo`` itself)
to real invocations of it, each starting with ``polydemo <that path>``. ``apply(app)`` puts them in each
command's epilog before Typer builds the click commands. A command whose docstring already shows an
example (``Example:``) is left out of the table, so no help shows two. tests/unit/test_cli_help.py fails
when a command has no example, when an example names a command that does not exist, or when its
arguments and options do not parse.

The emails and the post id are the seeded sample's (``polydemo seed``), so the examples run as written.
"""

from __future__ import annotations

import typer
from rich.markup import escape

ADA = "ada.lovelace@example.org"
GRACE = "grace.hopper@example.org"
NEW_USER = "margaret.hamilton@example.org"
SEEDED_POST = "1330314b-9045-515f-8351-e18459c47417"  # the sample's first post (posts.json)

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "polydemo setup",
        "polydemo up",
        "polydemo seed",
        "polydemo scenario run tour",
    ),
    # the stack
    "up": ("polydemo up", "polydemo up postgres redis --keep", "polydemo up --kafka-brokers 3"),
    "down": ("polydemo down", "polydemo down neo4j"),
    "status": ("polydemo status", "polydemo status kafka connect --json"),
    "logs": ("polydemo logs connect -n 100", "polydemo logs kafka --follow"),
    "doctor": ("polydemo doctor", "polydemo doctor --json"),
    "setup": ("polydemo setup", "polydemo setup --check", "polydemo setup kafka neo4j"),
    # the data
    "seed": ("polydemo seed", "polydemo seed --reset"),
    "signup": (f"polydemo signup {NEW_USER} --name 'Margaret Hamilton'",),
    "update-profile": (f"polydemo update-profile {ADA} --bio 'Wrote the first program'",),
    "delete-user": (f"polydemo delete-user {NEW_USER}",),
    "follow": (f"polydemo follow {ADA} {GRACE}",),
    "unfollow": (f"polydemo unfollow {ADA} {GRACE}",),
    "post": (
        f"polydemo post {ADA} --title 'Notes on the engine' --tag history",
        f"polydemo post {ADA} --title 'Lost event' --dual-write --crash-between-writes",
        f"polydemo post {ADA} --title 'Safe event' --outbox",
    ),
    "like": (f"polydemo like {SEEDED_POST}",),
    "read": (f"polydemo read user {ADA}",),
    "read user": (f"polydemo read user {ADA}", f"polydemo read user {ADA} --from redis --json"),
    "trace": (f"polydemo trace {ADA}", f"polydemo trace --post {SEEDED_POST} --json"),
    # the web gateway
    "web": ("polydemo web start", "polydemo web status"),
    "web serve": ("polydemo web serve",),
    "web start": (
        "polydemo web start",
        "polydemo web start --audience",
        "polydemo web start --audience --listen 0.0.0.0",
    ),
    "web stop": ("polydemo web stop",),
    "web status": ("polydemo web status", "polydemo web status --json"),
    # the pipeline
    "projector": ("polydemo projector status", "polydemo projector kill graph"),
    "projector start": ("polydemo projector start graph", "polydemo projector start relay"),
    "projector stop": ("polydemo projector stop cache",),
    "projector kill": ("polydemo projector kill graph",),
    "projector scale": ("polydemo projector scale graph 3", "polydemo projector scale graph 1"),
    "projector add": ("polydemo projector add wtf",),
    "projector remove": ("polydemo projector remove wtf",),
    "connector": ("polydemo connector status", "polydemo connector pause"),
    "connector status": ("polydemo connector status", "polydemo connector status --json"),
    "connector register": ("polydemo connector register",),
    "connector pause": ("polydemo connector pause",),
    "connector resume": ("polydemo connector resume",),
    # the dashboard
    "watch": ("polydemo watch", "polydemo watch --refresh 1", "polydemo watch --once --record frame.svg"),
    "snapshot": ("polydemo snapshot", "polydemo snapshot --json", "polydemo snapshot --record frame.html"),
    # scenarios and talk mode
    "scenario": ("polydemo scenario list", "polydemo scenario run tour"),
    "scenario list": ("polydemo scenario list", "polydemo scenario list --scenarios talks/"),
    "scenario show": ("polydemo scenario show tour",),
    "scenario validate": ("polydemo scenario validate scenarios/mine.yaml", "polydemo scenario validate tour"),
    "scenario run": (
        "polydemo scenario run tour",
        "polydemo scenario run kill-consumer --speed 10 --no-dashboard",
        "polydemo scenario run tour --step --show-commands --record tour.cast",
    ),
    "rehearse": ("polydemo rehearse", "polydemo rehearse signup follow tour --json"),
    "reset": ("polydemo reset", "polydemo reset --yes"),
}


def epilog(lines: tuple[str, ...]) -> str:
    """The epilog text for ``lines`` (rich markup: every line escaped, kept on its own line, indented).

    It starts with a newline because Typer dedents the epilog with ``inspect.cleandoc``, which measures the
    indentation from the second line on: the heading is then that second line, so the examples keep theirs.
    """
    head = "Example:" if len(lines) == 1 else "Examples:"
    return "\n".join(["", f"[bold]{head}[/bold]", *(f"  {escape(line)}" for line in lines)])


def apply(app: typer.Typer, examples: dict[str, tuple[str, ...]] = EXAMPLES) -> None:
    """Set each registered command's and group's epilog from ``examples`` (by full path), before Typer builds
    the click commands. A path missing from ``examples`` is left as it is."""

    def walk(typer_app: typer.Typer, prefix: str) -> None:
        for info in typer_app.registered_commands:
            path = f"{prefix} {info.name}".strip()
            if path in examples:
                info.epilog = epilog(examples[path])
        for group in typer_app.registered_groups:
            path = f"{prefix} {group.name}".strip()
            if path in examples:
                group.epilog = epilog(examples[path])
            if group.typer_instance is not None:
                walk(group.typer_instance, path)

    if "" in examples:
        app.info.epilog = epilog(examples[""])
    walk(app, "")
