"""How redline's Kafka clients authenticate and encrypt: the frozen :class:`KafkaSecurity` settings.

Every knob has one ``REDLINE_KAFKA_*`` variable (and one ``--kafka-*`` flag, see
:mod:`redline.commands.settings_flags`). The SASL password is a ``SecretStr``: it is shown as
``'**********'`` in ``repr``, ``str``, ``model_dump`` and every error message; only
:meth:`KafkaSecurity.aiokafka_kwargs` and :meth:`KafkaSecurity.faust_kwargs` hand it out, to the clients.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from redline.errors import ConfigError
from redline.settings_base import RedlineSettings, setting_problem

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")
_SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password")
_SSL_FIELDS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


class KafkaSecurity(RedlineSettings):
    """Security protocol, SASL credentials and TLS files of every Kafka connection.

    Parameters
    ----------
    security_protocol : {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
        Kafka's ``security.protocol``.
    sasl_mechanism : {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} or None
        Required (with username and password) by the SASL protocols, refused by the others.
    sasl_username : str or None
        SASL user.
    sasl_password : SecretStr or None
        SASL password; never shown.
    ssl_cafile, ssl_certfile, ssl_keyfile : Path or None
        PEM files (they must exist): the CA that signed the brokers' certificates (None: the system's
        CAs), and the client certificate and key for mutual TLS. Only with SSL or SASL_SSL.
    """

    model_config = SettingsConfigDict(env_prefix="REDLINE_KAFKA_")

    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    sasl_username: str | None = Field(default=None, min_length=1, description="SASL user name")
    sasl_password: SecretStr | None = Field(
        default=None,
        min_length=1,
        description="SASL password; prefer the variable (a flag shows in the process list)",
    )
    ssl_cafile: FilePath | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (unset: the system CAs)",
    )
    ssl_certfile: FilePath | None = Field(default=None, description="PEM client certificate (mutual TLS)")
    ssl_keyfile: FilePath | None = Field(default=None, description="PEM client private key (mutual TLS)")

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        protocol = self.security_protocol
        if protocol in SASL_PROTOCOLS:
            missing = [name for name in _SASL_FIELDS if getattr(self, name) is None]
            if missing:
                raise setting_problem(f"must be set when {{security_protocol}} is {protocol}", *missing)
        else:
            stray = [name for name in _SASL_FIELDS if getattr(self, name) is not None]
            if stray:
                raise setting_problem(
                    f"only apply to SASL_PLAINTEXT or SASL_SSL, not {{security_protocol}} {protocol}", *stray
                )
        if protocol not in SSL_PROTOCOLS:
            stray = [name for name in _SSL_FIELDS if getattr(self, name) is not None]
            if stray:
                raise setting_problem(
                    f"only apply to SSL or SASL_SSL, not {{security_protocol}} {protocol}", *stray
                )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise setting_problem("needs {ssl_certfile} (the certificate of that key)", "ssl_keyfile")
        return self

    @property
    def uses_ssl(self) -> bool:
        """Whether connections are encrypted (SSL or SASL_SSL)."""
        return self.security_protocol in SSL_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        """Whether connections authenticate with SASL."""
        return self.security_protocol in SASL_PROTOCOLS

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context from the CA, certificate and key files (system CAs without a CA file)."""
        from aiokafka.helpers import create_ssl_context

        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
            return context
        except (ssl.SSLError, OSError) as exc:
            files = ", ".join(
                f"{var}={str(getattr(self, name))!r}"
                for name, var in self.field_env_vars().items()
                if name in _SSL_FIELDS and getattr(self, name) is not None
            )
            source = files or "the system CAs"
            raise ConfigError(f"cannot build the TLS context from {source}: {exc}") from None

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and admin client.

        The dict holds the password in plain text (aiokafka needs it so): pass it on, never log it.
        """
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.uses_ssl:
            kwargs["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            assert self.sasl_password is not None  # checked on construction
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return kwargs

    def faust_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``faust.App``: ``broker_credentials`` (nothing for PLAINTEXT)."""
        if not (self.uses_ssl or self.uses_sasl):
            return {}
        from faust.auth import SASLCredentials, SSLCredentials

        context = self.ssl_context() if self.uses_ssl else None
        if not self.uses_sasl:
            return {"broker_credentials": SSLCredentials(context)}
        assert self.sasl_password is not None  # checked on construction
        credentials = SASLCredentials(
            username=self.sasl_username,
            password=self.sasl_password.get_secret_value(),
            mechanism=self.sasl_mechanism,
            ssl_context=context,
        )
        return {"broker_credentials": credentials}
