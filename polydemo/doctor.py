"""`polydemo doctor`: every check the stack depends on, each with the fix for its problem."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass

from rich.table import Table
from rich.text import Text

from polydemo import diskspace, procs
from polydemo.config import SERVICES, Settings
from polydemo.runtime import docker_engine_reachable
from polydemo.runtime.services import SPECS, java_bin, java_major, specs_for

MIN_FREE_DISK = 2 * 1024**3


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def resource_checks() -> list[Check]:
    """The files polydemo reads (scenarios, SQL, connector config, stack configs): found, and where it looked.

    One line when all are there; otherwise also one line per missing file, naming it and its fix."""
    from polydemo import resources

    root = resources.root()
    found = resources.inventory()
    missing = [f for f in found if not f.ok]
    scenarios = next(f for f in found if f.name == resources.SCENARIOS)
    detail = f"looked in {root.describe()}: " + (
        f"{len(found)} of {len(found)} found ({scenarios.detail.split(' in ')[0]})"
        if not missing
        else f"{len(missing)} of {len(found)} missing: {', '.join(f.name for f in missing)}"
    )
    checks = [Check("package data", not missing, detail, missing[0].fix if missing else "")]
    checks += [Check(f"data: {f.name}", False, f.detail, f.fix) for f in missing]
    return checks


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = resource_checks()
    checks.append(Check("home", True, f"{settings.home} (cache {settings.cache})"))
    java = java_bin(settings)
    major = java_major(java)
    checks.append(
        Check(
            "java",
            major is not None and major >= 17,
            f"{java} (Java {major})" if major else "not found",
            "" if major and major >= 17 else "apt-get install -y openjdk-17-jre-headless, or set POLYDEMO_JAVA",
        )
    )
    for name in SERVICES:
        problems = SPECS[name].requirements(settings)
        if problems:
            for p in problems:
                checks.append(Check(f"{name}: installed", False, p.what, p.fix))
        else:
            checks.append(Check(f"{name}: installed", True, SPECS[name].engine))
    checks += port_checks(settings)
    target = settings.home if settings.home.exists() else settings.home.parent
    while not target.exists():
        target = target.parent
    free = shutil.disk_usage(target).free
    checks.append(
        Check(
            "disk",
            free >= MIN_FREE_DISK,
            f"{free / 1024**3:.1f} GB free at {target}",
            "" if free >= MIN_FREE_DISK else "free at least 2 GB, or point POLYDEMO_HOME elsewhere",
        )
    )
    checks += data_dir_checks(settings)
    engine = docker_engine_reachable()
    checks.append(
        Check(
            "docker engine",
            True,
            "answers: `--runtime docker` available"
            if engine
            else "not reachable: the local runtime is used (that is fine)",
        )
    )
    return checks


def data_dir_checks(settings: Settings, statvfs: diskspace.StatVfs | None = None) -> list[Check]:
    """The disk check, per data directory that is full or low (one on a filesystem of its own, say): a full one is
    a problem. None when every one has room (the home's line above says how much)."""
    found = diskspace.check(settings, SERVICES, statvfs) if statvfs else diskspace.check(settings, SERVICES)
    running = {name: procs.alive(settings.pid_file(name)) is not None for name in SERVICES}
    out = []
    for u in found:
        if u.state == "ok":
            continue
        detail = f"{diskspace.human(u.free_bytes)} free of {diskspace.human(u.total_bytes)} at {u.path}"
        out.append(Check(f"disk: {u.what}", not u.full, f"{u.state}: {detail}", diskspace.fix(u, running[u.service])))
    return out


def port_checks(settings: Settings) -> list[Check]:
    """Every port the stack needs: each service's, and its extra ones (Kafka's controller listener). In
    cluster mode (``--kafka-brokers 3``) also brokers 2 and 3 and their controllers (9094-9097 + offset)."""
    checks = []
    for name, spec in specs_for(settings).items():
        for port_name in (name, *spec.extra_ports):
            port = settings.port(port_name)
            label = f"{port_name}: port {port}"
            if procs.alive(settings.pid_file(name)):
                checks.append(Check(label, True, "in use by polydemo's own server"))
            elif procs.port_free(port, settings.host):
                checks.append(Check(label, True, "free"))
            else:
                owner = procs.port_owner(port)
                env = f"POLYDEMO_{port_name.upper().replace('-', '_')}_PORT"
                checks.append(
                    Check(
                        label,
                        False,
                        f"in use{(' by ' + owner) if owner else ''}",
                        f"stop that process or set {env} (or POLYDEMO_PORT_OFFSET)",
                    )
                )
    return checks


def render(checks: list[Check]) -> Table:
    table = Table(title="polydemo doctor", title_style="bold")
    table.add_column("check", style="svc")
    table.add_column("")
    table.add_column("detail")
    table.add_column("fix", style="hint")
    for c in checks:
        table.add_row(c.name, Text("ok", style="ok") if c.ok else Text("PROBLEM", style="bad"), c.detail, c.fix)
    return table
