"""A throwaway certificate authority for the local broker's SSL listener (tests and local dev).

``openssl`` makes a CA and, signed by it, the broker's certificate (``localhost`` and
``127.0.0.1``) and optionally a client certificate for mutual TLS; the broker gets them as a
PKCS12 keystore (``openssl pkcs12``) and the CA as a PKCS12 truststore (``keytool``: only it marks
the CA as a trusted entry Java reads). Clients get PEM files (what ``ssl.create_default_context``
and aiokafka read). Keys are P-256 EC keys, made in milliseconds; certificates last
``days`` days. Nothing here is fit for production: the CA key lies next to the certificates.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from redline.errors import ConfigError, KafkaBrokerError

#: how long an openssl/keytool run may take
TOOL_TIMEOUT_S = 120.0
_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class TestCertificates:
    """The files :func:`make_test_certificates` wrote (all under ``directory``).

    Parameters
    ----------
    directory : Path
        Where the files are.
    store_password : str
        Password of the broker's keystore, of the key in it and of the truststore; not in ``repr``.
    """

    __test__ = False  # not a pytest test class, despite its name

    directory: Path
    store_password: str = field(repr=False)

    @property
    def ca_pem(self) -> Path:
        """The CA certificate clients trust (``--kafka-ssl-cafile``)."""
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        """PKCS12: the broker's key and certificate chain."""
        return self.directory / "broker.p12"

    @property
    def truststore(self) -> Path:
        """PKCS12: the CA, for checking client certificates."""
        return self.directory / "truststore.p12"

    @property
    def client_pem(self) -> Path:
        """A client certificate signed by the CA (``--kafka-ssl-certfile``), if made."""
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        """Its private key (``--kafka-ssl-keyfile``), if made."""
        return self.directory / "client.key"

    @property
    def stranger_ca_pem(self) -> Path:
        """The certificate of another CA that signed nothing the broker has, if made."""
        return self.directory / "stranger-ca.pem"

    @property
    def password_file(self) -> Path:
        """The store password, readable by the owner only (so a later start can reuse the stores)."""
        return self.directory / "store.password"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "openssl" if name == "openssl" else "a Java JDK (keytool), e.g. openjdk-17-jdk-headless"
        raise ConfigError(
            f"{name} is not installed; the throwaway TLS certificates need it (install {package})"
        )
    return path


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaBrokerError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise KafkaBrokerError(f"{what} failed: {lines[-1] if lines else f'exit code {done.returncode}'}")


def _make_ca(openssl: str, directory: Path, stem: str, name: str, days: int) -> None:
    _run(
        [openssl, "req", "-x509", *_EC_KEY, "-keyout", str(directory / f"{stem}.key"),
         "-out", str(directory / f"{stem}.pem"), "-days", str(days), "-subj", f"/CN={name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        f"making the test CA {name!r} with openssl",
    )  # fmt: skip


def _make_signed(openssl: str, directory: Path, stem: str, name: str, days: int, usage: str) -> None:
    _run(
        [openssl, "req", "-x509", *_EC_KEY, "-keyout", str(directory / f"{stem}.key"),
         "-out", str(directory / f"{stem}.pem"), "-days", str(days), "-subj", f"/CN={name}",
         "-CA", str(directory / "ca.pem"), "-CAkey", str(directory / "ca.key"),
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", f"extendedKeyUsage={usage}"],
        f"signing the {stem} certificate with openssl",
    )  # fmt: skip


def make_test_certificates(
    directory: Path, *, client: bool = False, stranger: bool = False, days: int = 7
) -> TestCertificates:
    """Make a throwaway CA, the broker's keystore and truststore, and optional client files.

    Parameters
    ----------
    directory : Path
        Created if needed (owner-only); existing files of the same names are replaced.
    client : bool
        Also make ``client.pem``/``client.key``, signed by the CA (mutual TLS).
    stranger : bool
        Also make ``stranger-ca.pem``, a CA the broker's certificate does not chain to.
    days : int
        Validity of every certificate.

    Raises
    ------
    ConfigError
        ``openssl`` or ``keytool`` is not installed.
    KafkaBrokerError
        One of them failed.
    """
    openssl, keytool = _tool("openssl"), _tool("keytool")
    directory = Path(directory).expanduser().absolute()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    certs = TestCertificates(directory=directory, store_password=secrets.token_urlsafe(18))
    _make_ca(openssl, directory, "ca", "redline throwaway test CA", days)
    _make_signed(openssl, directory, "broker", "localhost", days, "serverAuth,clientAuth")
    _run(
        [openssl, "pkcs12", "-export", "-in", str(directory / "broker.pem"),
         "-inkey", str(directory / "broker.key"), "-certfile", str(certs.ca_pem), "-name", "broker",
         "-out", str(certs.keystore), "-passout", f"pass:{certs.store_password}"],
        "writing the broker keystore with openssl pkcs12",
    )  # fmt: skip
    certs.truststore.unlink(missing_ok=True)  # keytool would add to an existing store
    _run(
        [keytool, "-importcert", "-noprompt", "-alias", "ca", "-file", str(certs.ca_pem),
         "-keystore", str(certs.truststore), "-storetype", "PKCS12", "-storepass", certs.store_password],
        "writing the truststore with keytool",
    )  # fmt: skip
    if client:
        _make_signed(openssl, directory, "client", "redline-client", days, "clientAuth")
    if stranger:
        _make_ca(openssl, directory, "stranger-ca", "a CA nobody trusts", days)
        (directory / "stranger-ca.key").unlink()
    certs.password_file.touch(mode=0o600)
    certs.password_file.write_text(certs.store_password + "\n", encoding="utf-8")
    return certs


def load_test_certificates(directory: Path) -> TestCertificates | None:
    """The certificates :func:`make_test_certificates` left in ``directory``, or None if incomplete."""
    directory = Path(directory).expanduser().absolute()
    certs = TestCertificates(directory=directory, store_password="")
    needed = (certs.ca_pem, certs.keystore, certs.truststore, certs.password_file)
    if not all(path.is_file() for path in needed):
        return None
    password = certs.password_file.read_text(encoding="utf-8").strip()
    return TestCertificates(directory=directory, store_password=password) if password else None
