"""The throwaway CA: real openssl/keytool output that Java and Python TLS accept."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from redline.broker.certs import load_test_certificates, make_test_certificates
from redline.errors import ConfigError

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("keytool") is None,
    reason="openssl or keytool not installed: no throwaway CA",
)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_certificates(tmp_path_factory.mktemp("tls"), client=True, stranger=True).directory


def test_broker_and_client_certificates_chain_to_the_ca_and_not_to_the_stranger(certs_dir: Path) -> None:
    for leaf in ("broker.pem", "client.pem"):
        ok = _run("openssl", "verify", "-CAfile", str(certs_dir / "ca.pem"), str(certs_dir / leaf))
        assert ok.returncode == 0, ok.stderr
        bad = _run("openssl", "verify", "-CAfile", str(certs_dir / "stranger-ca.pem"), str(certs_dir / leaf))
        assert bad.returncode != 0
    text = _run("openssl", "x509", "-in", str(certs_dir / "broker.pem"), "-noout", "-text").stdout
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert not (certs_dir / "stranger-ca.key").exists()  # nothing can be signed by the stranger


def test_java_reads_the_stores_with_the_recorded_password(certs_dir: Path) -> None:
    certs = load_test_certificates(certs_dir)
    assert certs is not None and certs.store_password
    assert certs.store_password not in repr(certs)
    for store, entry in ((certs.keystore, "PrivateKeyEntry"), (certs.truststore, "trustedCertEntry")):
        listed = _run("keytool", "-list", "-keystore", str(store), "-storetype", "PKCS12", "-storepass",
                      certs.store_password)  # fmt: skip
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert entry in listed.stdout
    wrong = _run("keytool", "-list", "-keystore", str(certs.keystore), "-storetype", "PKCS12", "-storepass",
                 "wrong-password")  # fmt: skip
    assert wrong.returncode != 0
    assert certs.password_file.stat().st_mode & 0o077 == 0


def test_python_tls_loads_the_client_files(certs_dir: Path) -> None:
    context = ssl.create_default_context(cafile=str(certs_dir / "ca.pem"))
    context.load_cert_chain(str(certs_dir / "client.pem"), str(certs_dir / "client.key"))
    assert context.cert_store_stats()["x509_ca"] == 1


def test_incomplete_directory_is_not_loaded(tmp_path: Path) -> None:
    assert load_test_certificates(tmp_path) is None
    (tmp_path / "ca.pem").write_text("x")
    assert load_test_certificates(tmp_path) is None


def test_missing_openssl_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="openssl is not installed"):
        make_test_certificates(tmp_path / "tls")
