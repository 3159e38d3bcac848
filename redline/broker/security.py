"""The optional secured listeners of the local broker: SASL_PLAINTEXT (SCRAM, PLAIN) and SSL.

Each sits on its own port next to the PLAINTEXT listener; the controller and the inter-broker
traffic stay PLAINTEXT on loopback. Passwords are plain ``str`` fields left out of ``repr`` (these
dataclasses are imported at every CLI start, where pydantic's ``SecretStr`` would cost its import).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from redline.errors import ConfigError

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_MECHANISMS = (*SCRAM_MECHANISMS, "PLAIN")
CLIENT_AUTH_MODES = ("none", "requested", "required")

# JAAS and --add-scram quote with '"' and split on ',' / ']': keep user names to a safe alphabet
_USER_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_PASSWORD_FORBIDDEN = frozenset('"\\,[]\n\r')


def _check_port(port: int, flag: str) -> None:
    if not 1 <= int(port) <= 65535:
        raise ConfigError(f"{flag} must be between 1 and 65535, got {port}")


@dataclass(frozen=True)
class SaslUser:
    """One SASL user of the local broker (valid for every enabled mechanism).

    Parameters
    ----------
    name : str
        Letters, digits and ``_ . @ -`` (1-64 characters).
    password : str
        Not shown in ``repr``; none of ``" \\ , [ ]`` nor line breaks (they would break the JAAS
        and ``--add-scram`` syntax).
    """

    name: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _USER_RE.match(self.name):
            raise ConfigError(
                f"SASL user name must be 1-64 letters, digits or _.@- characters, got {self.name!r}"
            )
        if not self.password or any(c in self.password for c in _PASSWORD_FORBIDDEN):
            raise ConfigError(
                f'the SASL password of {self.name} must be non-empty, without " \\ , [ ] or line breaks'
            )

    @classmethod
    def parse(cls, text: str) -> SaslUser:
        """``"name:password"`` -> a user (the password may contain ``:``).

        Raises
        ------
        ConfigError
            No ``:``, or a name or password :class:`SaslUser` refuses.
        """
        name, sep, password = text.partition(":")
        if not sep:
            raise ConfigError(f"a SASL user is NAME:PASSWORD, got {name!r} without ':'")
        return cls(name=name.strip(), password=password)


@dataclass(frozen=True)
class BrokerSasl:
    """A SASL_PLAINTEXT listener.

    Parameters
    ----------
    port : int
        Its port on the broker's host.
    users : tuple of SaslUser
        At least one. SCRAM credentials are written when the storage is formatted (``kafka-storage
        format --add-scram``), so a formatted data dir keeps the users it was formatted with; PLAIN
        users live in the listener's JAAS configuration.
    mechanisms : tuple of str
        Enabled mechanisms, a non-empty subset of ``SCRAM-SHA-256``, ``SCRAM-SHA-512``, ``PLAIN``.
    """

    port: int
    users: tuple[SaslUser, ...]
    mechanisms: tuple[str, ...] = SASL_MECHANISMS

    def __post_init__(self) -> None:
        _check_port(self.port, "--sasl-port")
        object.__setattr__(self, "users", tuple(self.users))
        object.__setattr__(self, "mechanisms", tuple(m.strip().upper() for m in self.mechanisms))
        if not self.users:
            raise ConfigError("a SASL listener needs at least one user (--sasl-user NAME:PASSWORD)")
        names = [user.name for user in self.users]
        if len(set(names)) != len(names):
            raise ConfigError(f"SASL user names repeat: {', '.join(sorted(names))}")
        unknown = [m for m in self.mechanisms if m not in SASL_MECHANISMS]
        if unknown or not self.mechanisms:
            got = ", ".join(self.mechanisms) or "none"
            raise ConfigError(f"SASL mechanisms must be some of {', '.join(SASL_MECHANISMS)}, got {got}")

    @property
    def scram_mechanisms(self) -> tuple[str, ...]:
        """The enabled SCRAM mechanisms (their credentials go into the storage at format time)."""
        return tuple(m for m in self.mechanisms if m in SCRAM_MECHANISMS)


@dataclass(frozen=True)
class BrokerTls:
    """An SSL listener with a PKCS12 keystore (and a truststore to check client certificates).

    Parameters
    ----------
    port : int
        Its port on the broker's host.
    keystore : Path
        PKCS12 file with the broker's private key and certificate chain.
    keystore_password : str
        Password of the keystore and of the key in it; not shown in ``repr``.
    truststore : Path, optional
        PKCS12 file with the CA(s) that sign client certificates; needed unless ``client_auth`` is
        ``"none"``.
    truststore_password : str, optional
        Its password; not shown in ``repr``.
    client_auth : {"none", "requested", "required"}
        Kafka's ``ssl.client.auth``. Default: ``"requested"`` with a truststore (a client
        certificate is checked when one is sent), else ``"none"``.
    """

    port: int
    keystore: Path
    keystore_password: str = field(repr=False)
    truststore: Path | None = None
    truststore_password: str | None = field(default=None, repr=False)
    client_auth: str | None = None

    def __post_init__(self) -> None:
        _check_port(self.port, "--ssl-port")
        object.__setattr__(self, "keystore", Path(self.keystore).expanduser().absolute())
        if self.truststore is not None:
            object.__setattr__(self, "truststore", Path(self.truststore).expanduser().absolute())
        for label, path in (("keystore", self.keystore), ("truststore", self.truststore)):
            if path is not None and not path.is_file():
                raise ConfigError(f"the broker's TLS {label} {path} does not exist")
        if not self.keystore_password:
            raise ConfigError("the broker's TLS keystore needs its password")
        if (self.truststore is None) != (self.truststore_password is None):
            raise ConfigError("a TLS truststore and its password go together")
        auth = self.client_auth or ("requested" if self.truststore is not None else "none")
        if auth not in CLIENT_AUTH_MODES:
            raise ConfigError(f"TLS client auth must be one of {', '.join(CLIENT_AUTH_MODES)}, got {auth!r}")
        if auth != "none" and self.truststore is None:
            raise ConfigError(f"TLS client auth {auth!r} needs a truststore of the clients' CA")
        object.__setattr__(self, "client_auth", auth)
