"""Kafka security settings: validation, and the keyword arguments aiokafka and faust are given."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from redline.errors import ConfigError
from redline.streams.kafka_security import KafkaSecurity

SASL = {"sasl_mechanism": "PLAIN", "sasl_username": "bob", "sasl_password": "s3cret-canary"}


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate and its key (also used as the CA), made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("pem")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=redline-test-ca"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return {"cert": cert, "key": key}


def test_plaintext_is_the_default_and_needs_nothing() -> None:
    security = KafkaSecurity()
    assert security.security_protocol == "PLAINTEXT" and not security.uses_ssl and not security.uses_sasl
    assert security.aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.faust_kwargs() == {}


def test_variables_are_read_case_insensitively_in_value() -> None:
    env = {
        "REDLINE_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
        "REDLINE_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "REDLINE_KAFKA_SASL_USERNAME": "bob",
        "REDLINE_KAFKA_SASL_PASSWORD": "pw",
    }
    security = KafkaSecurity.from_env(env)
    assert security.security_protocol == "SASL_PLAINTEXT" and security.sasl_mechanism == "SCRAM-SHA-512"
    assert KafkaSecurity.env_vars() == {
        "security_protocol": "REDLINE_KAFKA_SECURITY_PROTOCOL",
        "sasl_mechanism": "REDLINE_KAFKA_SASL_MECHANISM",
        "sasl_username": "REDLINE_KAFKA_SASL_USERNAME",
        "sasl_password": "REDLINE_KAFKA_SASL_PASSWORD",
        "ssl_cafile": "REDLINE_KAFKA_SSL_CAFILE",
        "ssl_certfile": "REDLINE_KAFKA_SSL_CERTFILE",
        "ssl_keyfile": "REDLINE_KAFKA_SSL_KEYFILE",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"security_protocol": "TLS"}, "security_protocol='TLS' must be one of"),
        ({"security_protocol": "SASL_SSL"}, "sasl_mechanism and sasl_username and sasl_password must be set"),
        (
            {"security_protocol": "SASL_SSL", **SASL, "sasl_mechanism": None},
            "^sasl_mechanism must be set when",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", **SASL, "sasl_mechanism": "GSSAPI"},
            "sasl_mechanism='GSSAPI'",
        ),
        ({"sasl_username": "bob"}, "sasl_username only apply to SASL_PLAINTEXT or SASL_SSL"),
        ({"ssl_cafile": "/nonexistent/ca.pem"}, "ssl_cafile='/nonexistent/ca.pem' is not an existing file"),
        ({"security_protocol": "SSL", "sasl_username": ""}, "sasl_username='' must not be empty"),
        (
            {"security_protocol": "SASL_SSL", **SASL, "sasl_password": ""},
            r"^sasl_password='\*+' must not be empty$",
        ),
    ],
)
def test_inconsistent_settings_are_refused(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSecurity(**kwargs)


def test_tls_files_apply_only_to_tls_and_a_key_needs_its_certificate(pem) -> None:
    with pytest.raises(ConfigError, match="ssl_cafile only apply to SSL or SASL_SSL"):
        KafkaSecurity(ssl_cafile=pem["cert"])
    with pytest.raises(ConfigError, match=r"^ssl_keyfile needs ssl_certfile"):
        KafkaSecurity(security_protocol="SSL", ssl_keyfile=pem["key"])
    env = {"REDLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "REDLINE_KAFKA_SSL_KEYFILE": str(pem["key"])}
    with pytest.raises(ConfigError, match=r"^REDLINE_KAFKA_SSL_KEYFILE needs REDLINE_KAFKA_SSL_CERTFILE"):
        KafkaSecurity.from_env(env)


async def test_sasl_plaintext_kwargs_for_aiokafka_and_faust() -> None:
    import faust
    from aiokafka import AIOKafkaProducer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    security = KafkaSecurity(security_protocol="SASL_PLAINTEXT", **SASL)
    kwargs = security.aiokafka_kwargs()
    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "bob",
        "sasl_plain_password": "s3cret-canary",
    }
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **kwargs)  # checked on construction
    assert producer.client._sasl_plain_password == "s3cret-canary"
    with pytest.raises(ValueError, match="sasl_plain_password"):  # so the construction check is real
        AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **{**kwargs, "sasl_plain_password": None})
    app = faust.App("redline-test-security", broker="kafka://127.0.0.1:1", **security.faust_kwargs())
    assert credentials_to_aiokafka_auth(app.conf.broker_credentials) == {**kwargs, "ssl_context": None}


async def test_sasl_ssl_kwargs_carry_a_context_that_trusts_the_ca(pem) -> None:
    import faust
    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    security = KafkaSecurity(
        security_protocol="SASL_SSL", ssl_cafile=pem["cert"], **{**SASL, "sasl_mechanism": "SCRAM-SHA-256"}
    )
    kwargs = security.aiokafka_kwargs()
    context = kwargs.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert any(
        ("commonName", "redline-test-ca") in rdn for ca in context.get_ca_certs() for rdn in ca["subject"]
    )
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256" and kwargs["security_protocol"] == "SASL_SSL"
    AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", ssl_context=context, **kwargs)
    app = faust.App("redline-test-sasl-ssl", broker="kafka://127.0.0.1:1", **security.faust_kwargs())
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_plain_password"] == "s3cret-canary"
    assert isinstance(auth["ssl_context"], ssl.SSLContext)


def test_mutual_tls_kwargs(pem) -> None:
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    security = KafkaSecurity(
        security_protocol="SSL", ssl_cafile=pem["cert"], ssl_certfile=pem["cert"], ssl_keyfile=pem["key"]
    )
    kwargs = security.aiokafka_kwargs()
    assert set(kwargs) == {"security_protocol", "ssl_context"} and kwargs["security_protocol"] == "SSL"
    app = faust.App("redline-test-ssl", broker="kafka://127.0.0.1:1", **security.faust_kwargs())
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["security_protocol"] == "SSL" and isinstance(auth["ssl_context"], ssl.SSLContext)


def test_ssl_without_a_ca_file_uses_the_system_cas() -> None:
    context = KafkaSecurity(security_protocol="SSL").aiokafka_kwargs()["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED


def test_a_file_that_is_no_pem_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    security = KafkaSecurity.from_env(
        {"REDLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "REDLINE_KAFKA_SSL_CAFILE": str(junk)}
    )
    with pytest.raises(
        ConfigError, match=f"cannot build the TLS context from REDLINE_KAFKA_SSL_CAFILE='{junk}'"
    ):
        security.aiokafka_kwargs()
