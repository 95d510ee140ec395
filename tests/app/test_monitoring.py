"""Prometheus and Grafana provisioning: rules checked by promtool, and a real
Prometheus scraping the live worker and ingester answers every dashboard query."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse

import orjson
import pytest
import yaml

from models.features import FEATURES
from tests.stack import ROOT, free_port, http_get, wait_until

DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "volspike.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

needs_prometheus = pytest.mark.skipif(
    not shutil.which("prometheus") or not shutil.which("promtool"),
    reason="Debian's prometheus is not installed: run `make system-deps` as root",
)


def panel_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def promtool(*args: str) -> str:
    done = subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_prometheus
def test_rules_and_config_pass_promtool():
    assert "SUCCESS: 12 rules found" in promtool("check", "rules", "alerts.yml")
    promtool("test", "rules", "alerts_test.yml")
    promtool("check", "config", "prometheus.yml")


def test_grafana_provisioning_points_at_the_dashboard():
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {datasource["uid"]}
    jobs = {job["job_name"] for job in
            yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]}
    for _, expr in panel_queries():
        for job in re.findall(r'job="([^"]+)"', expr):
            assert job in jobs


@pytest.fixture
def prometheus(live, tmp_path):
    """A real Prometheus scraping the live worker and ingester every second."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    targets = {"volspike-worker": live.worker.url, "volspike-ingest": live.ingest_metrics}
    config["scrape_configs"] = [
        {"job_name": job, "static_configs": [{"targets": [urllib.parse.urlsplit(url).netloc]}]}
        for job, url in targets.items()
    ]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
        log.close()


def query(prometheus: str, expr: str) -> list:
    status, body = http_get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    reply = json.loads(body) if body else {}
    assert status in (200, 503) or reply.get("errorType") != "bad_data", (expr, reply)
    return reply.get("data", {}).get("result", []) if status == 200 else []


@needs_prometheus
def test_prometheus_scrapes_and_every_panel_has_data(live, prometheus):
    status, _ = live.post("/predict", orjson.dumps({name: 0.1 for name in FEATURES}))
    assert status == 200
    wait_until("both targets up", lambda: len(query(prometheus, "up == 1")) == 2, 60)
    pending = dict((f"{title}: {expr}", expr) for title, expr in panel_queries())

    def all_answered() -> bool:
        for key, expr in list(pending.items()):
            if query(prometheus, expr):
                del pending[key]
        return not pending

    try:
        wait_until("every panel's query to return data", all_answered, 90)
    except AssertionError as exc:
        raise AssertionError(f"no data for: {sorted(pending)}") from exc
    # the alerting rules load and evaluate against the real series
    groups = json.loads(http_get(f"{prometheus}/api/v1/rules")[1])["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 12 and all(rule["health"] == "ok" for rule in rules), rules
