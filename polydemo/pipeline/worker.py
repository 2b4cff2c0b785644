"""Entry point of one pipeline process: ``python -m polydemo.pipeline.worker graph|cache|analytics|relay``."""

from __future__ import annotations

import sys

from polydemo.config import Settings


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m polydemo.pipeline.worker graph|cache|analytics|relay", file=sys.stderr)
        return 2
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    name = argv[0]
    if name == "relay":
        from polydemo.pipeline import relay

        relay.run(settings)
        return 0
    from polydemo.pipeline.projector import Runner
    from polydemo.pipeline.projectors import PROJECTORS

    if name not in PROJECTORS:
        print(f"unknown projector {name!r}; expected one of {', '.join(PROJECTORS)}", file=sys.stderr)
        return 2
    Runner(PROJECTORS[name](settings)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
