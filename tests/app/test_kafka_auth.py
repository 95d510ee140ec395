"""Kafka TLS/SASL settings reach Faust and aiokafka; the password never shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.stack import ROOT

PROBE = """
import json, ssl
from app.kafka_auth import aiokafka_auth
from app.settings import settings
auth = aiokafka_auth(settings)
print(json.dumps({k: (type(v).__name__ if k == "ssl_context" else v) for k, v in auth.items()}))
print(repr(settings))
"""


def probe(**env) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, **{f"VOLSPIKE_{k}": v for k, v in env.items()}},
    )
    assert done.returncode == 0, done.stderr
    auth, settings_repr = done.stdout.splitlines()
    return json.loads(auth), settings_repr


def test_plaintext_by_default():
    auth, _ = probe()
    assert auth["security_protocol"] == "PLAINTEXT"


def test_sasl_over_tls():
    auth, settings_repr = probe(KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                                KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
                                KAFKA_SASL_USERNAME="volspike", KAFKA_SASL_PASSWORD="s3cret!")
    assert auth == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                    "sasl_plain_username": "volspike", "sasl_plain_password": "s3cret!",
                    "ssl_context": "SSLContext"}
    assert "volspike" in settings_repr and "s3cret!" not in settings_repr


def test_an_unknown_protocol_is_refused_with_the_variable_named():
    done = subprocess.run(
        [sys.executable, "-c", "import app.core"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "VOLSPIKE_KAFKA_SECURITY_PROTOCOL": "KERBEROS"},
    )
    assert done.returncode != 0
    assert "VOLSPIKE_KAFKA_SECURITY_PROTOCOL='KERBEROS'" in done.stderr
