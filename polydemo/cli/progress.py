"""One progress line per item (a service being started, a component being installed): Rich when interactive,
plain lines otherwise. `up`/`down` and `setup` differ only in the words; this is the one home of the lines."""

from __future__ import annotations

from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from polydemo.console import Environment


class LineProgress:
    """A Rich progress line per key, labelled ``labels[key]`` in a column ``width`` wide (plain lines without a TTY).

    A key not given up front gets its line when it first reports. Use as a context manager."""

    def __init__(self, env: Environment, labels: dict[str, str], width: int):
        self.env = env
        self.labels = dict(labels)
        self.width = width
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        if env.interactive:
            self.progress = Progress(
                SpinnerColumn(finished_text=""),
                TextColumn(f"[svc]{{task.fields[label]:<{width}}}"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=env.err,
                transient=False,
            )
            for key, label in labels.items():
                self.tasks[key] = self.progress.add_task("queued", label=label, start=False, total=1)

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def show(self, key: str, text: str, *, done: bool, plain: bool) -> None:
        """Show ``text`` on ``key``'s line; ``done`` ends it; ``plain`` says whether a non-TTY prints this one."""
        label = self.labels.setdefault(key, key)
        if self.progress is None:
            if plain:
                self.env.info(f"[svc]{label:<{self.width}}[/svc] {text}")
            return
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = self.progress.add_task("", label=label, total=1)
        self.progress.start_task(task)
        self.progress.update(task, description=text, completed=1 if done else 0)
        if done:
            self.progress.stop_task(task)
