"""A local development certificate for ``barq dev --https``.

Made once with the ``openssl`` command (on Linux and macOS out of the box) and
kept in the user's cache folder (``~/.cache/barq/dev-tls``, or
``$XDG_CACHE_HOME/barq/dev-tls``): a private certificate authority
(``ca.pem``, valid ten years) and a server certificate it signed for
``localhost``, ``127.0.0.1`` and ``::1`` (``cert.pem`` / ``key.pem``, 825
days, the most browsers accept). Trusting ``ca.pem`` once makes every later
development certificate trusted too; the CA's key never leaves that folder
(mode 0700) and it signs nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DevCertError", "DevCerts", "dev_cert_dir", "ensure_dev_certs", "trust_hint"]

_SERVER_EXTENSIONS = """\
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
"""


class DevCertError(Exception):
    """The development certificate could not be made (the message says why)."""


@dataclass(frozen=True)
class DevCerts:
    folder: Path
    ca: Path
    cert: Path
    key: Path
    created: bool  # made by this call (else reused)


def dev_cert_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "barq" / "dev-tls"


def ensure_dev_certs(folder: Path | None = None) -> DevCerts:
    """The development CA and server certificate, made on first use."""
    folder = folder or dev_cert_dir()
    ca, cert, key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    if ca.is_file() and cert.is_file() and key.is_file():
        return DevCerts(folder, ca, cert, key, created=False)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DevCertError(
            "--https makes its certificate with the openssl command, which is not installed; "
            "install openssl, or pass --ssl-certfile/--ssl-keyfile (e.g. made by mkcert)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    with tempfile.TemporaryDirectory(dir=folder) as work_dir:
        work = Path(work_dir)

        def run(*args: str) -> None:
            result = subprocess.run(
                [openssl, *args], cwd=work, capture_output=True, text=True, timeout=60
            )
            if result.returncode != 0:
                raise DevCertError(
                    f"openssl {args[0]} failed: {result.stderr.strip()[-500:] or result.returncode}"
                )

        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", "/O=Barq development CA/CN=Barq development CA (this machine only)",
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash",
            "-keyout", "ca-key.pem", "-out", "ca.pem")  # fmt: skip
        (work / "server.ext").write_text(_SERVER_EXTENSIONS)
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/O=Barq development/CN=localhost",
            "-keyout", "key.pem", "-out", "server.csr")  # fmt: skip
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-days", "825", "-extfile", "server.ext",
            "-out", "cert.pem")  # fmt: skip
        for name in ("ca-key.pem", "key.pem"):
            os.chmod(work / name, 0o600)
        # The key before the certificate it belongs to, so a half-written folder
        # (interrupted) is never taken for a complete one.
        for name in ("ca-key.pem", "key.pem", "ca.pem", "cert.pem"):
            os.replace(work / name, folder / name)
    return DevCerts(folder, ca, cert, key, created=True)


def trust_hint(certs: DevCerts) -> str:
    """How to make clients trust the development CA."""
    return (
        f"Development certificate for localhost in {certs.folder} (CA: {certs.ca}).\n"
        f"  curl:    curl --cacert {certs.ca} https://localhost:PORT/\n"
        f"  Python:  SSL_CERT_FILE={certs.ca} (or httpx.Client(verify='{certs.ca}'))\n"
        f"  Debian/Ubuntu: sudo cp {certs.ca} /usr/local/share/ca-certificates/barq-dev.crt"
        " && sudo update-ca-certificates\n"
        "  macOS:   sudo security add-trusted-cert -d -r trustRoot "
        f"-k /Library/Keychains/System.keychain {certs.ca}\n"
        "  Chrome on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n barq-dev "
        f"-i {certs.ca}\n"
        "  Firefox keeps its own store: Settings → Certificates → Import."
    )
