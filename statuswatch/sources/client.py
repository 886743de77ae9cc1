"""The HTTP client every fetch uses, and the certificates it trusts.

httpx, left to itself, builds its TLS context from certifi's bundle: OpenSSL parses all
~150 certificates of that file each time a client is made, 15-30 ms on a two-core server
(more on a Raspberry Pi) of a `statuswatch check` whose whole 304 poll takes ~200 ms.
A hashed certificate directory (`/etc/ssl/certs` on Debian and Ubuntu, kept by
update-ca-certificates) verifies the same chains while OpenSSL reads only the one or two
certificates a handshake asks for. So, in this order:

1. `SSL_CERT_FILE` or `SSL_CERT_DIR`, when set (httpx and OpenSSL honour them too);
2. OpenSSL's own certificate directory, when it holds hashed certificates;
3. certifi's bundle, as httpx would use it.
"""

from __future__ import annotations

import os
import re
import ssl
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from statuswatch.errors import ConfigError

if TYPE_CHECKING:
    import httpx

# What `openssl rehash` (and update-ca-certificates) name a certificate: its subject hash.
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


class Trust(NamedTuple):
    kind: str  # "cafile" or "capath"
    where: str
    variable: str | None = None  # the environment variable that chose it, if one did


def trust_source(environ: Mapping[str, str] | None = None) -> Trust:
    """Which certificates to trust, and why."""
    env = os.environ if environ is None else environ
    if env.get("SSL_CERT_FILE"):
        return Trust("cafile", env["SSL_CERT_FILE"], "SSL_CERT_FILE")
    if env.get("SSL_CERT_DIR"):
        return Trust("capath", env["SSL_CERT_DIR"], "SSL_CERT_DIR")
    system = ssl.get_default_verify_paths().capath  # None when the directory is missing
    if system and holds_hashed_certificates(system):
        return Trust("capath", system)
    import certifi  # httpx's own dependency

    return Trust("cafile", certifi.where())


def holds_hashed_certificates(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(_HASHED_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def skip_httpx_command_line() -> None:
    """Before the first `import httpx`: leave out httpx's own command-line client.

    `import httpx` imports httpx/_main.py only to offer `httpx.main`, and that imports
    click (installed here for apprise and uvicorn), then pygments and rich when they are
    installed: 6-15 ms of every cold `check`, for a function statuswatch never calls.
    Marked absent, the import fails at once and httpx falls back to the stub it keeps for
    a missing CLI (its own `except ImportError`). Once httpx is imported, this does nothing.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]


def tls_context() -> ssl.SSLContext:
    """A client context that checks certificates and hostnames, as httpx's own does."""
    trust = trust_source()
    try:
        if trust.kind == "cafile":
            return ssl.create_default_context(cafile=trust.where)
        return ssl.create_default_context(capath=trust.where)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        fix = (
            f"point {trust.variable} at a readable PEM bundle, or unset it"
            if trust.variable
            else "reinstall the ca-certificates package or python's certifi"
        )
        raise ConfigError(
            f"the CA certificates at {trust.where} could not be loaded ({reason}); {fix}"
        ) from None


def new_client() -> httpx.AsyncClient:
    """An httpx.AsyncClient that follows redirects and verifies with `tls_context()`."""
    skip_httpx_command_line()
    import httpx

    return httpx.AsyncClient(follow_redirects=True, verify=tls_context())
