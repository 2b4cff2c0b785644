"""HTTPS downloads and archive extraction that work on the machines people have.

* **Trust**: every HTTPS request polydemo makes verifies against the operating system's trust store
  (``truststore``, as pip does since 24.2), so a company or conference network whose TLS-inspecting proxy's
  CA the system trusts works without any variable. ``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE``, when set,
  are trusted as well (a CA bundle file each). A certificate that is still refused is one
  :class:`DownloadError` that says what to set.
* **Extraction**: ``tarfile``'s ``filter=`` argument (PEP 706) exists from Python 3.11.4 (and 3.12); Debian
  12's ``/usr/bin/python3`` is 3.11.2. :func:`safe_extract` uses the ``data`` filter where it exists and
  otherwise checks every member itself with the same rules (no absolute path, nothing outside the target
  after ``..``, no link pointing out of it, no device or FIFO), refusing the whole archive before anything is
  written.
"""

from __future__ import annotations

import os
import ssl
import tarfile
from collections.abc import Mapping
from pathlib import Path

from polydemo.errors import ExitStatus, PolydemoError

# The variables people set to trust an extra CA bundle (OpenSSL's own, and the requests/pip convention).
CA_BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")

TRUST_HINT = (
    "if your network inspects TLS (a company or conference proxy), add its CA certificate to the system's "
    "trust store (Debian/Ubuntu: copy it to /usr/local/share/ca-certificates/NAME.crt and run "
    "`sudo update-ca-certificates`; macOS: Keychain Access, System) or point SSL_CERT_FILE at a PEM bundle "
    "that contains it"
)


class DownloadError(PolydemoError):
    exit_code = ExitStatus.INSTALL


class UnsafeArchiveError(PolydemoError):
    exit_code = ExitStatus.INSTALL


def ca_bundles(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The CA bundle files named by SSL_CERT_FILE / REQUESTS_CA_BUNDLE, each once; a name that is not a
    file is an error (a typo there would otherwise show as an unrelated certificate failure)."""
    env = os.environ if environ is None else environ
    out: list[Path] = []
    for var in CA_BUNDLE_VARS:
        value = env.get(var, "").strip()
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise DownloadError(
                f"{var} is set to {value!r}, which is not a file",
                hint=f"point {var} at a PEM file of CA certificates, or unset it to use the system's trust store",
            )
        if path not in out:
            out.append(path)
    return out


def ssl_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A client context that trusts the operating system's store, plus any CA bundle named in the
    environment. Hostname checking and certificate verification stay on."""
    import truststore

    ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for bundle in ca_bundles(environ):
        ctx.load_verify_locations(cafile=str(bundle))
    return ctx


def _is_certificate_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def download(url: str, dest: Path, timeout: float = 120.0, context: ssl.SSLContext | None = None) -> None:
    """Stream ``url`` into ``dest`` (written to a ``.part`` file, renamed when complete: an interrupted
    download never looks finished). Raises :class:`DownloadError` with one line and a hint."""
    import httpx

    ctx = context if context is not None else ssl_context()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout, verify=ctx) as r, open(part, "wb") as fh:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                fh.write(chunk)
    except httpx.HTTPStatusError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"cannot download {url}: the server answered {exc.response.status_code}",
            hint="check the address, or try again later",
        ) from None
    except (httpx.HTTPError, OSError) as exc:
        part.unlink(missing_ok=True)
        if _is_certificate_error(exc):
            raise DownloadError(
                f"cannot download {url}: its TLS certificate is not trusted ({_first_line(exc)})",
                hint=TRUST_HINT,
            ) from None
        raise DownloadError(
            f"cannot download {url}: {_first_line(exc) or type(exc).__name__}",
            hint="check that the machine reaches it (a proxy needs HTTPS_PROXY set)",
        ) from None
    part.replace(dest)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


# ---------------------------------------------------------------- extraction


def has_data_filter() -> bool:
    """Whether this Python's tarfile has PEP 706's filters (3.11.4+, 3.12+)."""
    return hasattr(tarfile, "data_filter")


def _inside(root: Path, target: Path) -> bool:
    try:
        target.relative_to(root)
        return True
    except ValueError:
        return False


def unsafe_members(tar: tarfile.TarFile, dest: Path) -> list[str]:
    """Each member the ``data`` filter would refuse, with why (empty: safe to extract).

    The rules checked by hand where ``filter=`` does not exist: an absolute name, a name that leaves
    ``dest`` once ``..`` is resolved, a symbolic or hard link whose target leaves it, a device or FIFO."""
    root = Path(os.path.realpath(dest))
    bad: list[str] = []
    for m in tar.getmembers():
        name = m.name
        if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
            bad.append(f"{name!r}: an absolute path")
            continue
        target = Path(os.path.realpath(root / name))
        if not _inside(root, target):
            bad.append(f"{name!r}: outside the target directory")
            continue
        if m.issym():
            link = m.linkname
            where = Path(os.path.realpath(target.parent / link)) if not os.path.isabs(link) else Path(link)
            if os.path.isabs(link) or not _inside(root, where):
                bad.append(f"{name!r}: a symbolic link to {link!r}, outside the target directory")
        elif m.islnk():
            where = Path(os.path.realpath(root / m.linkname))
            if os.path.isabs(m.linkname) or not _inside(root, where):
                bad.append(f"{name!r}: a hard link to {m.linkname!r}, outside the target directory")
        elif m.isdev() or m.isfifo():
            bad.append(f"{name!r}: a device or FIFO")
    return bad


def safe_extract(archive: Path, dest: Path, use_filter: bool | None = None) -> int:
    """Extract ``archive`` into ``dest`` safely on every supported Python; returns the member count.

    ``use_filter`` forces the path (tests): None uses tarfile's ``data`` filter where this Python has it.
    An unsafe archive is refused whole, before anything is written."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        bad = unsafe_members(tar, dest)
        if bad:
            raise UnsafeArchiveError(
                f"refusing to extract {archive.name}: {len(bad)} unsafe member(s), e.g. {bad[0]}",
                hint="the archive is not what it should be: delete it and download it again",
            )
        members = tar.getmembers()
        if use_filter if use_filter is not None else has_data_filter():
            tar.extractall(dest, filter="data")
        else:
            for m in members:
                # What the data filter also does: no owner, group or setuid/setgid/sticky bits from the archive.
                m.uid = m.gid = 0
                m.uname = m.gname = ""
                if m.mode is not None:
                    m.mode &= 0o755 if (m.isdir() or m.mode & 0o111) else 0o644
            # Every member was checked above; "fully_trusted" only keeps 3.12-3.13 from warning when forced.
            extra = {"filter": "fully_trusted"} if has_data_filter() else {}
            tar.extractall(dest, members=members, **extra)  # type: ignore[arg-type]
    return len(members)
