"""Which CA certificates a fetch trusts (statuswatch/sources/client.py), and that each
choice really verifies: a `statuswatch check` against a TLS feed server on 127.0.0.1 whose
certificate comes from a throwaway CA made with the openssl command, trusted through
SSL_CERT_FILE, through a hashed SSL_CERT_DIR (`openssl rehash`, as update-ca-certificates
leaves /etc/ssl/certs), and not trusted at all.

The openssl command rather than a Python CA library: one would pull `cryptography` into
the venv, which apprise then imports (+6 MB for every delivering `check` the benchmark
measures in the same venv)."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import certifi
import pytest

from statuswatch.errors import ConfigError
from statuswatch.sources import client
from tests.conftest import HISTORY
from tests.peers import FeedServer

REPO = Path(__file__).resolve().parent.parent
FEED = HISTORY / "consumer" / "2025-06-17T08-35-53Z.json"


# -- which certificates --------------------------------------------------------------


def system_dir(monkeypatch: pytest.MonkeyPatch, folder: Path | None) -> None:
    paths = SimpleNamespace(capath=None if folder is None else str(folder))
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)


def test_ssl_cert_file_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    system_dir(monkeypatch, tmp_path)
    env = {"SSL_CERT_FILE": "/etc/my-ca.pem", "SSL_CERT_DIR": "/etc/my-certs"}
    assert client.trust_source(env) == ("cafile", "/etc/my-ca.pem", "SSL_CERT_FILE")
    dir_only = {"SSL_CERT_DIR": "/etc/my-certs"}
    assert client.trust_source(dir_only) == ("capath", "/etc/my-certs", "SSL_CERT_DIR")


def test_a_hashed_system_directory_is_read_lazily(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "README").write_text("not a certificate")
    system_dir(monkeypatch, tmp_path)
    assert client.trust_source({}) == ("cafile", certifi.where(), None)  # no hashed names yet
    (tmp_path / "5ad8a5d6.0").symlink_to(tmp_path / "README")
    assert client.trust_source({}) == ("capath", str(tmp_path), None)


def test_without_a_system_directory_certifi_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    system_dir(monkeypatch, None)
    assert client.trust_source({}) == ("cafile", certifi.where(), None)


def test_an_unreadable_ssl_cert_file_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(ConfigError) as caught:
        client.tls_context()
    assert str(caught.value) == (
        f"the CA certificates at {missing} could not be loaded (No such file or directory); "
        "point SSL_CERT_FILE at a readable PEM bundle, or unset it"
    )


def test_the_context_verifies_hostnames(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = client.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


# -- a real handshake ------------------------------------------------------------------


OPENSSL = shutil.which("openssl")


def openssl(*args: str | Path) -> None:
    if OPENSSL is None and not os.environ.get("CI"):
        pytest.skip("needs the openssl command (.ci/run installs it)")
    subprocess.run([OPENSSL or "openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    """A throwaway CA and, signed by it, a certificate for 127.0.0.1: the folder."""
    folder = tmp_path / "pki"
    folder.mkdir()
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", folder / "ca.key", "-out", folder / "ca.pem",
            "-days", "2", "-subj", "/CN=statuswatch test CA")  # fmt: skip
    openssl("req", *key, "-keyout", folder / "server.key", "-out", folder / "server.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "san.cnf").write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", folder / "server.csr", "-CA", folder / "ca.pem",
            "-CAkey", folder / "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", folder / "san.cnf", "-out", folder / "server.pem")  # fmt: skip
    return folder


@pytest.fixture
def tls_feed(ca: Path) -> Iterator[str]:
    """The feed served over TLS with the certificate for 127.0.0.1 signed by `ca`."""
    server = FeedServer()
    server.set_body(FEED.read_bytes())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(ca / "server.pem", ca / "server.key")
    httpd = server._httpd
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    with server:
        yield f"https://127.0.0.1:{server.port}/feed.json"


def check(home: Path, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    config = home / "statuswatch.toml"
    config.write_text(
        f'state_dir = "{home / "state"}"\ntimeout = "5s"\nfetch_retries = 0\n'
        f'[[sources]]\nname = "apple"\nurl = "{url}"\nservices = ["iCloud Backup"]\n'
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STATUSWATCH_", "SSL_CERT_"))
    }
    environment.update(HOME=str(home), PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "statuswatch", "--config", str(config), "check"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_ca_named_by_ssl_cert_file_is_trusted(ca: Path, tls_feed: str, tmp_path: Path) -> None:
    done = check(tmp_path, tls_feed, SSL_CERT_FILE=str(ca / "ca.pem"))
    assert done.returncode == 0, done.stderr
    assert "iCloud Backup" in done.stdout


def test_a_hashed_certificate_directory_is_trusted(ca: Path, tls_feed: str, tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(ca / "ca.pem", folder / "test-ca.pem")
    openssl("rehash", folder)
    assert client.holds_hashed_certificates(str(folder))
    done = check(tmp_path, tls_feed, SSL_CERT_DIR=str(folder))
    assert done.returncode == 0, done.stderr
    assert "iCloud Backup" in done.stdout


def test_a_certificate_nobody_vouches_for_is_refused(tls_feed: str, tmp_path: Path) -> None:
    """The default store (the system's or certifi's) does not know the throwaway CA."""
    done = check(tmp_path, tls_feed)
    assert done.returncode == 69, done.stderr
    assert "the TLS connection to 127.0.0.1" in done.stderr
    assert "certificate verify failed" in done.stderr
    assert "Traceback" not in done.stderr
