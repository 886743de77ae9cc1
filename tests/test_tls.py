"""Which CA certificates a fetch trusts (statuswatch/sources/client.py), and that each
choice really verifies: a `statuswatch check` against a TLS feed server on 127.0.0.1 whose
certificate comes from a throwaway CA (trustme), trusted through SSL_CERT_FILE, through a
hashed SSL_CERT_DIR (`openssl rehash`, as update-ca-certificates leaves /etc/ssl/certs),
and not trusted at all."""

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
import trustme

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
    assert client.trust_source(env) == ("cafile", "/etc/my-ca.pem")
    assert client.trust_source({"SSL_CERT_DIR": "/etc/my-certs"}) == ("capath", "/etc/my-certs")


def test_a_hashed_system_directory_is_read_lazily(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "README").write_text("not a certificate")
    system_dir(monkeypatch, tmp_path)
    assert client.trust_source({}) == ("cafile", certifi.where())  # no hashed names yet
    (tmp_path / "5ad8a5d6.0").symlink_to(tmp_path / "README")
    assert client.trust_source({}) == ("capath", str(tmp_path))


def test_without_a_system_directory_certifi_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    system_dir(monkeypatch, None)
    assert client.trust_source({}) == ("cafile", certifi.where())


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


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_feed(ca: trustme.CA) -> Iterator[str]:
    """The feed served over TLS with a certificate for 127.0.0.1 signed by `ca`."""
    server = FeedServer()
    server.set_body(FEED.read_bytes())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
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


def test_a_ca_named_by_ssl_cert_file_is_trusted(
    ca: trustme.CA, tls_feed: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    done = check(tmp_path, tls_feed, SSL_CERT_FILE=str(bundle))
    assert done.returncode == 0, done.stderr
    assert "iCloud Backup" in done.stdout


@pytest.mark.skipif(
    shutil.which("openssl") is None and not os.environ.get("CI"),
    reason="needs the openssl command (.ci/run installs it)",
)
def test_a_hashed_certificate_directory_is_trusted(
    ca: trustme.CA, tls_feed: str, tmp_path: Path
) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    ca.cert_pem.write_to_path(str(folder / "test-ca.pem"))
    subprocess.run(["openssl", "rehash", str(folder)], check=True, capture_output=True)
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
