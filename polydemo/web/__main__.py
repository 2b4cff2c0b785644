"""``python -m polydemo.web``: serve the gateway in this process (what ``polydemo web start`` spawns)."""

from __future__ import annotations

import sys

from polydemo.web.service import serve

if __name__ == "__main__":
    sys.exit(serve())
