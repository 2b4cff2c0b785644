"""``python -m polydemo.web [--audience --listen ADDRESS --max-audience N]``: serve the gateway in this process
(what ``polydemo web start`` spawns)."""

from __future__ import annotations

import argparse
import sys

from polydemo.config import Settings
from polydemo.web.service import audience_options, serve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m polydemo.web")
    ap.add_argument("--audience", action="store_true")
    ap.add_argument("--listen", default=None)
    ap.add_argument("--max-audience", type=int, default=None)
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    audience = audience_options(settings, args.listen, args.max_audience) if args.audience else None
    return serve(settings, audience)


if __name__ == "__main__":
    sys.exit(main())
