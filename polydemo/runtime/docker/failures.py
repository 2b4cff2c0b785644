"""Compose's failures as one clear line with a hint each (a :class:`PolydemoError`): a failed pull, a
failed ``up --wait``, an engine that went away. Pure functions of Compose's output (unit-tested)."""

from __future__ import annotations

import re
from pathlib import Path

from polydemo.errors import PolydemoError, PortInUseError, ServiceStartError
from polydemo.runtime.docker.output import PROJECT, _error_line, _failed_services, _services_in

# First start: Neo4j and Connect (which scans every Debezium plugin) take the longest.
DEFAULT_WAIT_TIMEOUT = 180.0
LOCAL_HINT = "or use --runtime local"

PULL_NOT_FOUND = (
    "manifest unknown",
    "pull access denied",
    "repository does not exist",
    "not found: manifest",
    ": not found",
)
PULL_PLATFORM = ("no matching manifest",)
PULL_RATE = ("toomanyrequests", "rate limit")
PULL_AUTH = ("unauthorized", "authentication required")
NETWORK = (
    "no such host",
    "i/o timeout",
    "tls handshake timeout",
    "dial tcp",
    "proxyconnect",
    "connection refused",
    "network is unreachable",
    "temporary failure in name resolution",
    "failed to do request",
    "context deadline exceeded",
    "connection reset",
)
# Compose's words when the engine went away under it.
ENGINE_GONE = (
    "failed to connect to the docker api",
    "cannot connect to the docker daemon",
    "is the docker daemon running",
)
PORT_TAKEN = ("port is already allocated", "address already in use", "bind for", "ports are not available")


def pull_error(output: str, images: dict[str, str]) -> PolydemoError:
    """One clear error for a failed ``docker compose pull`` (nothing was started)."""
    low = output.lower()
    service = next((s for s, ref in images.items() if ref.lower() in low), None)
    if service is None:
        service = next(
            (s for s in images if re.search(rf"^\s*{re.escape(s)}\b.*(error|fail)", output, re.I | re.M)), None
        )
    image = images.get(service) if service else ", ".join(images.values())
    what = f"could not pull {image}"
    offline = "pull the images once while online (`docker compose -p polydemo pull`), " + LOCAL_HINT
    if any(k in low for k in PULL_RATE):
        return PolydemoError(
            f"{what}: the registry's pull rate limit was reached",
            hint="`docker login` (a free Docker Hub account has a higher limit) and retry, or wait; " + LOCAL_HINT,
        )
    if any(k in low for k in PULL_PLATFORM):
        return PolydemoError(
            f"{what}: the image has no build for this machine's platform",
            hint="pick a multi-arch tag in docker-compose.yml, " + LOCAL_HINT,
        )
    if any(k in low for k in NETWORK):
        return PolydemoError(
            f"{what}: the registry cannot be reached",
            hint="check the internet connection (and the proxy settings of Docker), or " + offline,
        )
    if any(k in low for k in PULL_AUTH):
        return PolydemoError(
            f"{what}: the registry refused the credentials",
            hint="`docker logout` then retry (the images are public), " + LOCAL_HINT,
        )
    if any(k in low for k in PULL_NOT_FOUND):
        return PolydemoError(
            f"{what}: the registry has no such image or tag",
            hint="check the pinned tag in docker-compose.yml, " + LOCAL_HINT,
        )
    if "no space left on device" in low:
        return PolydemoError(
            f"{what}: Docker ran out of disk space",
            hint="free space with `docker system prune` (or give Docker Desktop a bigger disk), " + LOCAL_HINT,
        )
    return PolydemoError(f"{what}: {_error_line(output)}", hint=offline)


def up_error(
    output: str,
    ports: dict[str, int],
    images: dict[str, str],
    timed_out: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    project: str = PROJECT,
) -> PolydemoError:
    """One clear error for a failed ``docker compose up --wait``."""
    low = output.lower()
    if any(k in low for k in PORT_TAKEN):
        m = re.search(r"(?:0\.0\.0\.0|127\.0\.0\.1|\[::\]|::):(\d+)", output)
        port = int(m.group(1)) if m else None
        service = next((s for s, p in ports.items() if p == port), None)
        if service is None:
            found = _services_in(output, project)
            service = found[0] if found else None
            port = ports.get(service) if service else port
        who = service or "a service"
        env = f"POLYDEMO_{service.upper().replace('-', '_')}_PORT" if service else "POLYDEMO_<SERVICE>_PORT"
        return PortInUseError(
            f"port {port} for {who} is already in use" if port else f"a port {who} needs is already in use",
            hint="stop what holds it (another polydemo on the local runtime? `polydemo --runtime local down`), "
            f"or choose another port with {env}=<port> (or POLYDEMO_PORT_OFFSET)",
        )
    if any(k in low for k in (*PULL_NOT_FOUND, *PULL_RATE, *PULL_PLATFORM, "error pulling", "pull access")):
        return pull_error(output, images)
    if "no space left on device" in low:
        return PolydemoError(
            "Docker ran out of disk space",
            hint="free space with `docker system prune` (or give Docker Desktop a bigger disk), " + LOCAL_HINT,
        )
    found = _failed_services(output, project) or _services_in(output, project)
    if timed_out or "timeout" in low or "unhealthy" in low or "dependency failed" in low or "exited" in low:
        svc = found[-1] if found else None
        if svc:
            return ServiceStartError(
                f"{svc} did not become healthy"
                + (f" within {wait_timeout:.0f}s" if timed_out or "timeout" in low else ""),
                hint=f"see `polydemo --runtime docker logs {svc}`",
            )
        return ServiceStartError(
            f"the stack did not become healthy within {wait_timeout:.0f}s",
            hint="see `docker compose -p polydemo ps` and `docker compose -p polydemo logs`",
        )
    return ServiceStartError(
        f"docker compose up failed: {_error_line(output)}",
        hint="see `docker compose -p polydemo ps` and `docker compose -p polydemo logs`",
    )


def engine_lost_error(during: str, services: list[str]) -> PolydemoError:
    """The engine stopped answering in the middle of a command: nothing more can be cleaned up from here."""
    return PolydemoError(
        f"the Docker engine stopped answering during `{during}`",
        hint="start it again (Docker Desktop, or `sudo systemctl start docker`); containers stop "
        "with the engine and have no restart policy, so then `polydemo --runtime docker down` "
        f"removes what was started ({', '.join(services)}), or use --runtime local",
    )


def missing_image_hint(overrides: list[Path]) -> str:
    if overrides:
        return (
            "build the stand-in images first (`bash scripts/docker-harness.sh prepare`), or unset "
            "POLYDEMO_COMPOSE_OVERRIDE to use the official images"
        )
    return "build or pull it (`docker compose -p polydemo pull`), " + LOCAL_HINT
