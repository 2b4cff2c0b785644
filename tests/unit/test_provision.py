"""`polydemo setup` logic through its seam (Host): what it runs, what it skips, how it fails."""

from pathlib import Path

import pytest

from polydemo import provision, resources
from polydemo.config import Settings


class FakeHost(provision.Host):
    """Records commands; 'installs' by creating the files a real run would leave."""

    def __init__(self, have=(), root=True, apt=True, fail=None):
        self.have = set(have)  # binaries on PATH
        self.files: set[Path] = set()
        self.root, self.apt, self.fail = root, apt, fail
        self.ran: list[list[str]] = []
        self.downloads: list[str] = []
        self.payload = PLUGIN

    def download(self, url, dest):
        self.downloads.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.payload)

    def which(self, name):
        if name == "apt-get":
            return "/usr/bin/apt-get" if self.apt else None
        return f"/usr/bin/{name}" if name in self.have else None

    def exists(self, path):
        return path in self.files

    def is_root(self):
        return self.root

    def run(self, argv, log, env=None):
        self.ran.append(argv)
        if self.fail and self.fail in " ".join(argv):
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("[ERROR] Checksum validation failed, expected abc but is def\n")
            return 1
        joined = " ".join(argv)
        if "copy-dependencies@kafka-libs" in joined:  # kafka
            libs = Path(next(a for a in argv if a.startswith("-Dkafka.libs.dir=")).split("=", 1)[1])
            libs.mkdir(parents=True)
            (libs / "kafka_2.13-4.3.1.jar").write_text("")
        elif " package " in f" {joined} ":  # neo4j
            lib = Path(next(a for a in argv if a.startswith("-Dpolydemo.jardir=")).split("=", 1)[1])
            lib.mkdir(parents=True)
            (lib / "polydemo-neo4j.jar").write_text("")
        elif "-m venv" in joined:
            (Path(argv[-1]) / "bin").mkdir(parents=True)
        elif "--require-hashes" in joined:
            venv = Path(argv[0]).parent.parent
            (venv / "bin" / "secantusd-py").write_text("")
        elif "install" in argv and "apt-get" in joined:
            self.have |= {"redis-server", "javac", "mvn"}
            self.files |= {
                Path("/usr/lib/postgresql/15/bin/postgres"),
            }
        return 0


def _plugin_archive() -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"jar"
        info = tarfile.TarInfo("debezium-connector-postgres/debezium-connector-postgres-3.7.0.Final.jar")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


PLUGIN = _plugin_archive()
ALL_APT = {"redis-server", "javac", "mvn"}


@pytest.fixture(autouse=True)
def plugin_sha(monkeypatch):
    import hashlib

    monkeypatch.setattr(provision, "DEBEZIUM_PLUGIN_SHA256", hashlib.sha256(PLUGIN).hexdigest())


PG_FILES = {Path("/usr/lib/postgresql/15/bin/postgres")}  # no extension is looked for (issue 24)


def job(tmp_path, host) -> provision.Setup:
    s = Settings.from_env(home=tmp_path / "home").with_overrides(cache=tmp_path / "cache")
    return provision.Setup(s, host=host, python="/usr/bin/python3")


def test_first_run_installs_with_verified_downloads_and_second_run_does_nothing(tmp_path):
    host = FakeHost(have=ALL_APT)
    host.files |= PG_FILES
    j = job(tmp_path, host)
    first = j.run()
    assert [r.state for r in first] == ["ok", "installed", "installed", "installed"]
    mvn = [a for a in host.ran if a[0].endswith("mvn")]
    assert len(mvn) == 2 and all("-C" in a for a in mvn)  # --strict-checksums: a bad .sha1 fails
    pip = next(a for a in host.ran if "pip" in a)
    assert "--require-hashes" in pip and pip[-1].endswith("requirements-secantusd.txt")
    # Maven runs on a staged copy of the pom, never in the (possibly read-only) package
    assert all(Path(a[a.index("-f") + 1]).is_relative_to(tmp_path / "cache") for a in mvn)
    plugin = tmp_path / "cache" / "kafka" / "plugins" / "debezium-connector-postgres"
    assert host.downloads == [provision.DEBEZIUM_PLUGIN_URL] and any(plugin.glob("*.jar"))
    host.ran.clear()
    second = j.run()
    assert [r.state for r in second] == ["ok"] * 4 and host.ran == []
    assert all(r.state == "ok" for r in j.check())


def test_stamps_are_setup_sh_stamps():
    """The stamp of an input set is sha256 of the files' bytes in order (setup.sh's `cat … | sha256sum`)."""
    import hashlib

    pom = resources.require(resources.KAFKA_POM)
    assert provision.stamp_key([pom]) == hashlib.sha256(pom.read_bytes()).hexdigest()


def test_changed_input_reinstalls_only_that_component(tmp_path):
    host = FakeHost(have=ALL_APT)
    host.files |= PG_FILES
    j = job(tmp_path, host)
    j.run()
    (j.settings.cache / "stamps" / "kafka").write_text("stale\n")
    host.ran.clear()
    results = {r.component: r.state for r in j.run()}
    assert results == {"apt": "ok", "kafka": "installed", "neo4j": "ok", "secantusdb": "ok"}
    assert len(host.ran) == 1


def test_check_reports_without_changing_anything(tmp_path):
    host = FakeHost()
    results = job(tmp_path, host).check()
    assert [r.state for r in results] == ["missing"] * 4 and host.ran == []
    assert "redis-server" in results[0].detail and "maven" in results[0].detail


def test_apt_installs_only_what_is_missing(tmp_path):
    host = FakeHost(have={"redis-server"})
    job(tmp_path, host).run(["apt"])
    install = next(a for a in host.ran if "install" in a)
    assert "redis-server" not in install and {"postgresql-15", "maven", "openjdk-17-jdk-headless"} <= set(install)


def test_without_apt_the_error_names_what_to_install(tmp_path):
    with pytest.raises(provision.SetupError) as exc:
        job(tmp_path, FakeHost(apt=False)).run(["apt"])
    assert "system packages" in exc.value.message and "no apt-get" in exc.value.message
    assert "PostgreSQL 15" in exc.value.hint and "--runtime docker" in exc.value.hint


def test_not_root_without_sudo_says_how(tmp_path):
    with pytest.raises(provision.SetupError) as exc:
        job(tmp_path, FakeHost(root=False)).run(["apt"])
    assert "needs root" in exc.value.message and "apt-get install -y" in exc.value.hint


def test_maven_failure_names_the_component_log_and_fix(tmp_path):
    host = FakeHost(have=ALL_APT, fail="copy-dependencies")
    host.files |= PG_FILES
    with pytest.raises(provision.SetupError) as exc:
        job(tmp_path, host).run()
    assert exc.value.message.startswith("Kafka jars: Maven failed")
    assert (
        "Checksum validation failed" in exc.value.details
        and host.downloads == []
        and "setup-kafka.log" in exc.value.hint
    )
    assert not (tmp_path / "cache" / "stamps" / "kafka").exists()


def test_pip_failure_leaves_no_half_installed_venv(tmp_path):
    host = FakeHost(have=ALL_APT, fail="--require-hashes")
    host.files |= PG_FILES
    j = job(tmp_path, host)
    with pytest.raises(provision.SetupError, match="Mongo-wire server: pip install failed"):
        j.run(["secantusdb"])
    assert not provision.mongo_venv(j.settings).exists()


def test_unknown_component(tmp_path):
    with pytest.raises(provision.SetupError, match="unknown set-up component 'mongo'"):
        job(tmp_path, FakeHost()).run(["mongo"])


def test_secantus_requirements_are_hashed():
    text = resources.read_text(resources.MONGO_REQUIREMENTS)
    pins = [ln for ln in text.splitlines() if "==" in ln and not ln.startswith("#")]
    assert len(pins) >= 9 and "--hash=sha256:" in text
    blocks = text.split("\n")
    for i, ln in enumerate(blocks):  # every pin is followed by at least one hash
        if ln in pins:
            assert blocks[i + 1].strip().startswith("--hash=sha256:"), ln


def test_a_plugin_archive_with_the_wrong_sha256_is_refused(tmp_path):
    host = FakeHost(have=ALL_APT)
    host.files |= PG_FILES
    host.payload = b"not the archive"
    with pytest.raises(provision.SetupError) as exc:
        job(tmp_path, host).run(["kafka"])
    assert "Debezium plugin's sha256" in exc.value.message and "altered" in exc.value.hint
    assert not (tmp_path / "cache" / "downloads" / provision.DEBEZIUM_PLUGIN_URL.rsplit("/", 1)[1]).exists()
    assert not (tmp_path / "cache" / "stamps" / "kafka").exists()


def test_plugin_pin_matches_the_pom():
    import re

    from polydemo.runtime import services

    pom = resources.read_text(resources.KAFKA_POM)
    assert (
        re.search(r"<debezium.version>([^<]+)<", pom).group(1)
        == provision.DEBEZIUM_VERSION
        == services.DEBEZIUM_VERSION
    )
    assert provision.DEBEZIUM_VERSION in provision.DEBEZIUM_PLUGIN_URL
