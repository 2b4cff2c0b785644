"""Entry point of one pipeline process: ``python -m polydemo.pipeline.process graph|cache|analytics|relay``.

It builds what the loop talks to (the real confluent-kafka consumer and DLQ producer, the
status file, the stop event set by SIGTERM/SIGINT) and logs one line per event to stdout,
which ``workers.start`` sends to ``logs/projector-<name>.log`` (``pipeline/workers.py`` starts, stops and
inspects these processes).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from polydemo.config import Settings

log = logging.getLogger("polydemo.worker")


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def run_projector(settings: Settings, name: str, stop: threading.Event, instance: int = 1) -> None:
    from confluent_kafka import Consumer, Producer

    from polydemo.pipeline.loop import (
        CommitResults,
        GroupWatch,
        ProjectorLoop,
        StatusFile,
        client_id,
        consumer_config,
        dlq_producer_config,
        status_file,
        watched_config,
    )
    from polydemo.pipeline.projectors import ALL_PROJECTORS

    projector = ALL_PROJECTORS[name](settings)
    watch, commits = GroupWatch(), CommitResults()
    config = watched_config(consumer_config(settings, projector.group, client_id(name, instance)), watch, commits)
    dlq = Producer(dlq_producer_config(settings))
    status = StatusFile(status_file(settings, name, instance))
    # confluent-kafka's classes match the loop's Consumer/Producer protocols; their C signatures are untyped.
    ProjectorLoop(
        projector,
        Consumer(config),  # type: ignore[arg-type]
        dlq,  # type: ignore[arg-type]
        status,
        stop=stop,
        instance=instance,
        watch=watch,
        make_consumer=lambda: Consumer(config),  # type: ignore[arg-type,return-value]
        commits=commits,
    ).run()


def main(argv: list[str]) -> int:
    from polydemo.errors import ExitStatus
    from polydemo.pipeline.projectors import ALL_PROJECTORS

    usage = "usage: python -m polydemo.pipeline.process graph|cache|analytics|wtf|relay [INSTANCE]"
    if len(argv) not in (1, 2) or (len(argv) == 2 and (not argv[1].isdigit() or int(argv[1]) < 1)):
        print(usage, file=sys.stderr)
        return ExitStatus.USAGE
    name = argv[0]
    instance = int(argv[1]) if len(argv) == 2 else 1
    if name != "relay" and name not in ALL_PROJECTORS:
        print(f"unknown projector {name!r}; expected one of {', '.join(ALL_PROJECTORS)}, relay", file=sys.stderr)
        return ExitStatus.USAGE
    setup_logging()
    settings = Settings.from_env()
    stop = stop_on_signals()
    log.info("%s: starting instance %d (pid file in %s)", name, instance, settings.run_dir)
    if name == "relay":
        from polydemo.pipeline import relay

        relay.run(settings, stop)
    else:
        run_projector(settings, name, stop, instance)
    log.info("%s: stopped", name)
    return ExitStatus.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
