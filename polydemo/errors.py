"""The one error type users see: a message that says what is wrong and a hint that says how to fix it.

The gateways (``polydemo/stores``) raise these in place of their client libraries' errors where a caller
above them acts on the error (``AlreadyExists``, ``StoreTimeout``, ``StoreUnreachable``), so no layer above
``stores/`` catches a client library's exception.

``ExitStatus`` names every status the CLI exits with (the only numbers ``polydemo`` returns).
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # an expected failure (PolydemoError), a failed expectation, an unhealthy service
    USAGE = 2  # a bad argument, scenario file or port: nothing was started
    SERVICE_START = 3  # a service did not come up (the others were stopped)
    STORE_UNREACHABLE = 4  # a store's client could not reach its server
    INSTALL = 5  # something polydemo needs is not installed: `polydemo setup` failed, or package data is missing
    INJECTED_CRASH = 70  # the dual-write writer dying between its two writes, on purpose (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class PolydemoError(Exception):
    """An expected failure. The CLI prints ``message``, ``details`` and ``hint`` and exits with ``exit_code``
    (see ``polydemo.cli.context.command``): never a traceback, unless ``polydemo --traceback`` asks for one."""

    exit_code: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, hint: str | None = None, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message


class PortInUseError(PolydemoError):
    exit_code = ExitStatus.USAGE


class ServiceStartError(PolydemoError):
    exit_code = ExitStatus.SERVICE_START


class AlreadyExists(PolydemoError):
    """A write a store refused because a unique key is taken (an email already registered). A gateway raises it
    in place of its client library's error (``psycopg.errors.UniqueViolation``), so the layers above never
    import that library; nothing was written."""


class NotFound(PolydemoError):
    """What was asked for does not exist (no such user or post): the web gateway's ``NOT_FOUND``."""


class Unauthenticated(PolydemoError):
    """No session, a bad or expired one, or a wrong email or password (the web gateway's ``UNAUTHENTICATED``)."""


class Forbidden(PolydemoError):
    """A session may not do this (an audience token asking for a presenter's operation): ``FORBIDDEN``."""


class AudienceClosed(Unauthenticated):
    """The audience session (its join code and tokens) ended, or the code is not the current one."""


class RateLimited(PolydemoError):
    """Too many calls too fast: refused at once, with how long to wait (``RATE_LIMITED``, ``retryAfterMs``)."""

    def __init__(self, message: str, retry_after_s: float, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class StoreTimeout(PolydemoError):
    """A store took longer than the client's timeout to answer a read: it is up, but slow (the Mongo-wire server
    counting 50,000 posts on busy cores). A gateway raises it in place of its client's timeout error
    (``pymongo.errors.NetworkTimeout``, ``ExecutionTimeout``); the dashboard then reads in the background."""

    exit_code = ExitStatus.STORE_UNREACHABLE


REACH_HINT = "is the stack up? `polydemo status` shows each service; `polydemo up` starts it"


class StoreUnreachable(PolydemoError):
    """A store's client got no answer from its server (it is down, or a Kafka broker is failing over). A gateway
    raises it in place of its client's error where callers above go on without the answer (Kafka's lag reads:
    ``KafkaException``). ``transient``: asking again soon may succeed (a leader moving, a request lost with its
    broker); ``reason``: the client's own words, one line."""

    exit_code = ExitStatus.STORE_UNREACHABLE

    def __init__(self, store: str, reason: str, transient: bool = False, hint: str | None = REACH_HINT):
        super().__init__(f"cannot reach {store}: {reason}", hint=hint)
        self.store = store
        self.reason = reason
        self.transient = transient


SILENT_WORDS = ("timeout", "timed out", "did not answer", "failed to read", "no answer")


def silent(error: object) -> bool:
    """True when an error (or its text) says the server took the connection and then said nothing in time:
    frozen, SIGSTOPped, ``docker pause``d, in a long GC pause; not refused or reset. Each client words its
    timeout its own way; these are the words they share (pure)."""
    words = (f"{type(error).__name__} {error}" if isinstance(error, BaseException) else str(error)).lower()
    return any(w in words for w in SILENT_WORDS)
