"""Kafka authentication (TLS, SASL) from settings, one definition for the worker and sources."""

from __future__ import annotations

import ssl

import faust
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from app.settings import Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's broker credentials; None for plaintext (the embedded broker)."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in PROTOCOLS:
        raise SystemExit(
            f"VOLSPIKE_KAFKA_SECURITY_PROTOCOL={protocol!r}: use one of {', '.join(PROTOCOLS)}"
        )
    context = None
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism, ssl_context=context,
        )
    return None


def aiokafka_auth(settings: Settings) -> dict:
    """The same, as keyword arguments for aiokafka's producer and consumer."""
    return credentials_to_aiokafka_auth(credentials(settings))
