"""Settings: every variable documented, bad values refused with a clear message."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.stack import ROOT


def test_every_setting_is_documented():
    source = (ROOT / "app" / "settings.py").read_text()
    names = set(re.findall(r'_(?:env|int|float|bool)\("([A-Z_]+)"', source))
    assert len(names) >= 20
    documented = set(re.findall(r"`VOLSPIKE_([A-Z_]+)`", (ROOT / "docs" / "configuration.md")
                                .read_text()))
    assert names == documented


def test_a_bad_value_names_the_variable():
    done = subprocess.run(
        [sys.executable, "-c", "import app.settings"], cwd=ROOT, capture_output=True,
        env={**os.environ, "VOLSPIKE_WEB_PORT": "sixty"},
    )
    assert done.returncode != 0
    assert b"VOLSPIKE_WEB_PORT='sixty' is not an integer" in done.stderr
