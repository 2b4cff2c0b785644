"""`polydemo setup`: install what the local stack needs (polydemo/provision.py does the work)."""

from __future__ import annotations

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from polydemo.cli.context import command, with_json

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


class _Reporter:
    """One Rich progress line per component (plain lines without a TTY)."""

    def __init__(self, env, components):
        self.env = env
        self.titles = {c.name: c.title for c in components}
        self.progress = None
        self.tasks: dict[str, TaskID] = {}
        self.announced: set[str] = set()
        if env.interactive:
            self.progress = Progress(
                SpinnerColumn(finished_text=""),
                TextColumn("[svc]{task.fields[title]:<32}"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=env.err,
            )
            for c in components:
                self.tasks[c.name] = self.progress.add_task("queued", title=c.title, start=False, total=1)

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def __call__(self, name: str, state: str, detail: str) -> None:
        text = {
            "checking": "checking",
            "installing": f"installing {detail}",
            "done": f"[ok]✔[/ok] {detail}",
            "failed": f"[bad]✘ failed[/bad] {detail}",
        }.get(state, state)
        if self.progress is None:  # plain lines: the start of an installation and each outcome, not the ticks
            if state in ("done", "failed") or (state == "installing" and name not in self.announced):
                self.announced.add(name)
                self.env.info(f"[svc]{self.titles[name]:<32}[/svc] {text}")
            return
        task = self.tasks[name]
        self.progress.start_task(task)
        self.progress.update(task, description=text, completed=1 if state in ("done", "failed") else 0)
        if state in ("done", "failed"):
            self.progress.stop_task(task)
