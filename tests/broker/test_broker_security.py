"""The settings of the secured listeners: what is accepted, what is refused, what stays hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from redline.broker.security import BrokerSasl, BrokerTls, SaslUser
from redline.errors import ConfigError


def test_sasl_user_parses_name_colon_password_and_hides_the_password() -> None:
    user = SaslUser.parse("alice:pa:ss=1")
    assert (user.name, user.password) == ("alice", "pa:ss=1")
    assert "pa:ss" not in repr(user)
    assert "pa:ss" not in repr(BrokerSasl(port=1, users=(user,)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice", "NAME:PASSWORD"),
        ("al ice:x", "user name"),
        (":x", "user name"),
        ("alice:", "non-empty"),
        ('alice:a"b', "without"),
        ("alice:a,b", "without"),
        ("alice:a]b", "without"),
        ("alice:a\\b", "without"),
    ],
)
def test_sasl_users_that_would_break_jaas_or_add_scram_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SaslUser.parse(text)


def test_sasl_listener_needs_users_known_mechanisms_and_distinct_names() -> None:
    alice = SaslUser("alice", "x")
    with pytest.raises(ConfigError, match="at least one user"):
        BrokerSasl(port=9094, users=())
    with pytest.raises(ConfigError, match="repeat"):
        BrokerSasl(port=9094, users=(alice, SaslUser("alice", "y")))
    with pytest.raises(ConfigError, match="must be some of"):
        BrokerSasl(port=9094, users=(alice,), mechanisms=("GSSAPI",))
    with pytest.raises(ConfigError, match="--sasl-port must be between"):
        BrokerSasl(port=0, users=(alice,))
    sasl = BrokerSasl(port=9094, users=[alice], mechanisms=("plain", "scram-sha-512"))  # type: ignore[arg-type]
    assert sasl.users == (alice,)
    assert sasl.mechanisms == ("PLAIN", "SCRAM-SHA-512")
    assert sasl.scram_mechanisms == ("SCRAM-SHA-512",)


def test_tls_listener_checks_its_stores(tmp_path: Path) -> None:
    keystore, truststore = tmp_path / "k.p12", tmp_path / "t.p12"
    with pytest.raises(ConfigError, match=r"keystore .* does not exist"):
        BrokerTls(port=9093, keystore=keystore, keystore_password="p")
    keystore.write_bytes(b"k")
    assert BrokerTls(port=9093, keystore=keystore, keystore_password="p").client_auth == "none"
    with pytest.raises(ConfigError, match="needs its password"):
        BrokerTls(port=9093, keystore=keystore, keystore_password="")
    with pytest.raises(ConfigError, match="needs a truststore"):
        BrokerTls(port=9093, keystore=keystore, keystore_password="p", client_auth="required")
    truststore.write_bytes(b"t")
    with pytest.raises(ConfigError, match="go together"):
        BrokerTls(port=9093, keystore=keystore, keystore_password="p", truststore=truststore)
    tls = BrokerTls(
        port=9093, keystore=keystore, keystore_password="kp", truststore=truststore, truststore_password="tp"
    )
    assert tls.client_auth == "requested"
    assert "kp" not in repr(tls) and "tp" not in repr(tls)
    with pytest.raises(ConfigError, match="one of none, requested, required"):
        BrokerTls(port=9093, keystore=keystore, keystore_password="p", client_auth="sometimes")
