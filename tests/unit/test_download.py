"""HTTPS trust and safe extraction (issue 24): the two failures a new user met on a laptop.

1. Behind a TLS-inspecting proxy whose CA the operating system trusts, setup's own download failed with
   CERTIFICATE_VERIFY_FAILED (httpx trusted certifi's list, not the system's). Reproduced with a real HTTPS
   server on 127.0.0.1 whose certificate comes from a throw-away CA that only the test's trust store knows.
2. ``TarFile.extractall(filter=...)`` does not exist on Debian 12's Python 3.11.2: extraction checks every
   member itself there, and refuses ``../`` and absolute members.
"""

from __future__ import annotations

import http.server
import io
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import textwrap
import threading
from pathlib import Path

import pytest

from polydemo import download, provision
from polydemo.config import Settings

BODY = b"the plugin archive\n" * 100


# ---------------------------------------------------------------- a throw-away CA and an HTTPS server


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """ca.pem (a new CA, trusted by nobody) and server.pem/server.key (127.0.0.1, signed by it)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a throw-away CA")
    d = tmp_path_factory.mktemp("pki")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=polydemo test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
             "-out", "server.csr", cwd=d)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem", cwd=d)  # fmt: skip
    return d


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/plugin.tar.gz":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_url(pki):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


CERT_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")


@pytest.fixture
def no_cert_vars(monkeypatch):
    """A laptop: none of CI's certificate variables."""
    for var in CERT_VARS:
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------- trust


def test_a_ca_nobody_trusts_is_one_line_that_says_what_to_set(https_url, tmp_path, no_cert_vars):
    with pytest.raises(download.DownloadError) as err:
        download.download(f"{https_url}/plugin.tar.gz", tmp_path / "p.tgz")
    assert "TLS certificate is not trusted" in err.value.message and "\n" not in err.value.message
    assert "SSL_CERT_FILE" in (err.value.hint or "") and "update-ca-certificates" in (err.value.hint or "")
    assert not list(tmp_path.iterdir()), "nothing half-written is left"


@pytest.mark.parametrize("var", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_a_ca_bundle_named_in_the_environment_is_trusted(https_url, pki, tmp_path, no_cert_vars, monkeypatch, var):
    """REQUESTS_CA_BUNDLE (pip's and requests' convention) was ignored before: httpx reads only SSL_CERT_*."""
    monkeypatch.setenv(var, str(pki / "ca.pem"))
    provision.Host().download(f"{https_url}/plugin.tar.gz", tmp_path / "p.tgz")
    assert (tmp_path / "p.tgz").read_bytes() == BODY


def test_a_bundle_variable_that_names_no_file_is_said_plainly(no_cert_vars, monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(download.DownloadError, match=r"REQUESTS_CA_BUNDLE is set to .* which is not a file"):
        download.ssl_context()


def test_a_server_error_is_one_line_and_leaves_nothing(https_url, pki, tmp_path, no_cert_vars, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    with pytest.raises(download.DownloadError, match="answered 404"):
        download.download(f"{https_url}/missing", tmp_path / "m")
    assert not list(tmp_path.iterdir())


SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or not SYSTEM_BUNDLE.is_file():
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare -m (a private mount namespace)")
def test_the_operating_systems_trust_store_is_used_without_any_variable(https_url, pki, tmp_path):
    """The proxy case itself: the throw-away CA is added to the system's bundle (in a private mount namespace,
    so the machine's real store is untouched), no certificate variable is set, and the download works.
    Before truststore this failed with CERTIFICATE_VERIFY_FAILED: httpx used certifi's list."""
    bundle = tmp_path / "system-bundle.crt"
    bundle.write_bytes(SYSTEM_BUNDLE.read_bytes() + b"\n" + (pki / "ca.pem").read_bytes())
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from polydemo import provision
        provision.Host().download({https_url + "/plugin.tar.gz"!r}, Path({str(tmp_path / "p.tgz")!r}))
        print("downloaded", Path({str(tmp_path / "p.tgz")!r}).stat().st_size)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in CERT_VARS}
    root = Path(download.__file__).parents[1]
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f'mount --bind "$1" {SYSTEM_BUNDLE} && exec "$2" -c "$3"', "sh", str(bundle), sys.executable, script],
        env={**env, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"downloaded {len(BODY)}" in proc.stdout


# ---------------------------------------------------------------- extraction


def _tar(tmp_path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    """(name, data or None for a symlink, link target)."""
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.SYMTYPE
                info.linkname = link or ""
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


GOOD = [("plugin/a.jar", b"a", None), ("plugin/sub/b.jar", b"b", None), ("plugin/link.jar", None, "a.jar")]


@pytest.mark.parametrize("use_filter", [False, None], ids=["checked-by-hand (3.11.2)", "this-python"])
def test_a_good_archive_extracts(tmp_path, use_filter):
    dest = tmp_path / "out"
    n = download.safe_extract(_tar(tmp_path, GOOD), dest, use_filter=use_filter)
    assert n == 3
    assert (dest / "plugin" / "sub" / "b.jar").read_bytes() == b"b"
    assert (dest / "plugin" / "link.jar").resolve() == (dest / "plugin" / "a.jar").resolve()


BAD = {
    "dotdot": [("plugin/a.jar", b"a", None), ("../evil.txt", b"x", None)],
    "dotdot-deep": [("plugin/../../evil.txt", b"x", None)],
    "absolute": [("/tmp/polydemo-evil-absolute.txt", b"x", None)],
    "symlink-out": [("plugin/out", None, "../../etc/passwd")],
    "symlink-absolute": [("plugin/out", None, "/etc/passwd")],
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("use_filter", [False, None], ids=["checked-by-hand (3.11.2)", "this-python"])
def test_an_unsafe_archive_is_refused_whole_and_writes_nothing(tmp_path, case, use_filter):
    dest = tmp_path / "out"
    with pytest.raises(download.UnsafeArchiveError, match=r"refusing to extract a\.tar\.gz: .*unsafe member"):
        download.safe_extract(_tar(tmp_path, BAD[case]), dest, use_filter=use_filter)
    assert list(dest.iterdir()) == [], "nothing extracted, not even the safe members"
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/polydemo-evil-absolute.txt").exists()


def test_this_pythons_tarfile_is_what_the_extraction_expects():
    """On 3.11.0-3.11.3 (Debian 12's 3.11.2) there is no filter: the by-hand path is the one taken there."""
    assert download.has_data_filter() == (sys.version_info >= (3, 11, 4))


def test_setup_refuses_a_plugin_archive_with_an_unsafe_member_in_one_line(tmp_path, monkeypatch):
    """Through setup itself: on 3.11.2 this was `TypeError: TarFile.extractall() got an unexpected keyword
    argument 'filter'` (a traceback); on 3.11.4+ a tarfile.OutsideDestinationError. Now one SetupError."""
    import hashlib

    archive = _tar(tmp_path, BAD["dotdot"]).read_bytes()
    monkeypatch.setattr(provision, "DEBEZIUM_PLUGIN_SHA256", hashlib.sha256(archive).hexdigest())

    class Host(provision.Host):
        def download(self, url, dest):
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(archive)

    settings = Settings.from_env(home=tmp_path / "home").with_overrides(cache=tmp_path / "cache")
    job = provision.Setup(settings, host=Host())
    plugins = tmp_path / "plugins"
    with pytest.raises(provision.SetupError, match=r"Kafka jars: refusing to extract .*'\.\./evil\.txt'"):
        provision._debezium_plugin(job, plugins)
    assert not (tmp_path / "evil.txt").exists() and not any(plugins.rglob("*"))


def test_an_unforeseen_error_in_a_component_is_one_line_naming_it_and_its_log(tmp_path):
    """No exception from `polydemo setup` reaches the user as a traceback."""

    def broken(s):
        raise TypeError("TarFile.extractall() got an unexpected keyword argument 'filter'")

    comp = provision.Component("kafka", "Kafka + Connect + Debezium jars", lambda s: (False, "missing"), broken)
    settings = Settings.from_env(home=tmp_path / "home").with_overrides(cache=tmp_path / "cache")
    job = provision.Setup(settings, host=provision.Host(), components=(comp,))
    seen = []
    with pytest.raises(provision.SetupError) as err:
        job.run(progress=lambda *a: seen.append(a))
    assert err.value.message == (
        "Kafka + Connect + Debezium jars: TypeError: TarFile.extractall() got an unexpected keyword argument 'filter'"
    )
    assert "setup-kafka.log" in (err.value.hint or "") and "--traceback" in (err.value.hint or "")
    assert seen[-1][:2] == ("kafka", "failed")
