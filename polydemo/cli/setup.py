"""`polydemo setup`: install what the local stack needs (polydemo/provision.py does the work)."""

from __future__ import annotations

import typer
from rich.table import Table

from polydemo.cli.context import command, with_json
from polydemo.cli.progress import LineProgress

JSON_OPT = typer.Option(False, "--json", help="Machine-readable output on stdout.")
STATE = {"ok": "[ok]✔ up to date[/ok]", "installed": "[ok]✔ installed[/ok]", "missing": "[bad]✘ to install[/bad]"}


def register(app: typer.Typer) -> None:
    command(app, "setup")(setup)


def setup(
    ctx: typer.Context,
    components: list[str] | None = typer.Argument(
        None, help="Components (default: all): apt kafka neo4j secantusdb.", show_default=False
    ),
    check: bool = typer.Option(
        False, "--check", help="Only report what is installed and what is missing; change nothing."
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Install the local stack: system packages (apt, only what is missing), the Kafka, Debezium and Neo4j jars
    (Maven Central, checksums verified), the Mongo-wire server (PyPI, hashes verified). Idempotent.

    Exit status 1 with --check if anything is missing.
    """
    from polydemo import provision

    st = with_json(ctx, json_out)
    job = provision.Setup(st.settings)
    if check:
        results = job.check(components)
    else:
        st.env.info(f"polydemo setup: cache {st.settings.cache}")
        with _Reporter(st.env, job.select(components)) as reporter:
            results = job.run(components, progress=reporter)
    if st.env.json:
        st.env.emit_json([r.as_dict() for r in results])
    else:
        table = Table(title="polydemo setup" + (" --check" if check else ""), title_style="bold")
        for col in ("component", "", "detail", "time"):
            table.add_column(col, justify="right" if col == "time" else "left")
        for r in results:
            table.add_row(r.title, STATE.get(r.state, r.state), r.detail, f"{r.seconds:.1f}s" if not check else "")
        st.env.out.print(table)
    missing = [r for r in results if r.state == "missing"]
    if missing:
        st.env.error(f"not installed: {', '.join(r.title for r in missing)}", hint="run `polydemo setup`")
        raise typer.Exit(1)


class _Reporter(LineProgress):
    """One line per component; without a TTY, the start of an installation and each outcome, not the ticks."""

    def __init__(self, env, components):
        super().__init__(env, {c.name: c.title for c in components}, width=32)
        self.announced: set[str] = set()

    def __call__(self, name: str, state: str, detail: str) -> None:
        text = {
            "checking": "checking",
            "installing": f"installing {detail}",
            "done": f"[ok]✔[/ok] {detail}",
            "failed": f"[bad]✘ failed[/bad] {detail}",
        }.get(state, state)
        plain = state in ("done", "failed") or (state == "installing" and name not in self.announced)
        if plain:
            self.announced.add(name)
        self.show(name, text, done=state in ("done", "failed"), plain=plain)
