"""The audience mode's pure parts: the options, the join code, the join address, the QR code, and which GraphQL
root fields the audience's listener answers (everything else is the presenter's)."""

from __future__ import annotations

import io
import ipaddress
import secrets
from dataclasses import dataclass

from polydemo.errors import PolydemoError

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a screen at the back of a room
CODE_LENGTH = 6
DEFAULT_MAX = 1000
# What an audience token (and the audience's listener) may call; the rest needs the presenter.
AUDIENCE_FIELDS = frozenset({"join", "follow", "unfollow", "post", "like", "me", "people", "posts", "myJourney"})
PRESENTER_ONLY_MUTATIONS = frozenset(
    {"projector", "connector", "runScenario", "endAudience", "hidePost", "removeUser", "deleteMe"}
)


@dataclass(frozen=True)
class AudienceOptions:
    listen: str  # the address the audience's listener binds (0.0.0.0: every interface)
    port: int
    max_users: int = DEFAULT_MAX

    @classmethod
    def parse(cls, listen: str | None, port: int, max_users: int | None = None) -> AudienceOptions:
        address = (listen or "0.0.0.0").strip()
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise PolydemoError(
                f"--listen {address!r} is not an IP address", hint="use an address of this machine, e.g. 0.0.0.0"
            ) from None
        if ip.version != 4:
            raise PolydemoError(f"--listen {address}: only IPv4 is supported", hint="use e.g. 0.0.0.0")
        n = DEFAULT_MAX if max_users is None else max_users
        if not 1 <= n <= 100_000:
            raise PolydemoError(f"--max-audience {n} is out of range", hint="use 1 to 100000")
        return cls(address, port, n)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def same_code(given: str | None, current: str | None) -> bool:
    if not given or not current:
        return False
    return secrets.compare_digest(given.strip().upper().encode(), current.upper().encode())


def join_host(listen: str, addresses: list[str] | None = None) -> str:
    """The address phones use: the one listened on, or for 0.0.0.0 this machine's first non-loopback IPv4 address
    (``addresses``: the machine's, by default from psutil), else 127.0.0.1."""
    if listen != "0.0.0.0":
        return listen
    if addresses is None:
        import psutil

        stats = psutil.net_if_stats()
        addresses = [
            a.address
            for name, addrs in psutil.net_if_addrs().items()
            if stats.get(name) is not None and stats[name].isup
            for a in addrs
            if a.family.name == "AF_INET"
        ]
    for a in addresses:
        if not ipaddress.ip_address(a).is_loopback:
            return a
    return "127.0.0.1"


def join_url(listen: str, port: int, code: str, addresses: list[str] | None = None) -> str:
    return f"http://{join_host(listen, addresses)}:{port}/join?code={code}"


def qr_svg(url: str) -> bytes:
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=10, border=2, dark="#000", light="#fff")
    return buf.getvalue()


def qr_text(url: str) -> str:
    import segno

    buf = io.StringIO()
    segno.make(url, error="m").terminal(out=buf, compact=True, border=2)
    return buf.getvalue()
