"""Entry point of one pipeline process: ``python -m polydemo.pipeline.worker graph|cache|analytics|relay``.

It builds what the loop talks to (the real confluent-kafka consumer and DLQ producer, the
status file, the stop event set by SIGTERM/SIGINT) and logs one line per event to stdout,
which ``workers.start`` sends to ``logs/projector-<name>.log``.
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


def run_projector(settings: Settings, name: str, stop: threading.Event) -> None:
    from confluent_kafka import Consumer, Producer

    from polydemo.pipeline.projector import Runner, StatusFile, consumer_config, dlq_producer_config, status_file
    from polydemo.pipeline.projectors import ALL_PROJECTORS

    projector = ALL_PROJECTORS[name](settings)
    consumer = Consumer(consumer_config(settings, projector.group))
    dlq = Producer(dlq_producer_config(settings))
    # confluent-kafka's classes match the loop's Consumer/Producer protocols; their C signatures are untyped.
    Runner(projector, consumer, dlq, StatusFile(status_file(settings, name)), stop=stop).run()  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    from polydemo.errors import ExitStatus
    from polydemo.pipeline.projectors import ALL_PROJECTORS as PROJECTORS

    if len(argv) != 1:
        print("usage: python -m polydemo.pipeline.worker graph|cache|analytics|relay", file=sys.stderr)
        return ExitStatus.USAGE
    name = argv[0]
    if name != "relay" and name not in PROJECTORS:
        print(f"unknown projector {name!r}; expected one of {', '.join(PROJECTORS)}, relay", file=sys.stderr)
        return ExitStatus.USAGE
    setup_logging()
    settings = Settings.from_env()
    stop = stop_on_signals()
    log.info("%s: starting (pid file in %s)", name, settings.run_dir)
    if name == "relay":
        from polydemo.pipeline import relay

        relay.run(settings, stop)
    else:
        run_projector(settings, name, stop)
    log.info("%s: stopped", name)
    return ExitStatus.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
