"""Static checks of docker-compose.yaml, the Dockerfile and .dockerignore.

Docker is not needed: the files are read as text and YAML. `${VAR:-default}` is read
as its default, which is what `docker compose up` uses without an .env file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS = ROOT / "app" / "settings.py"

LOOPBACK = "127.0.0.1"
# services whose image is built from this repository
APP_SERVICES = ("worker", "ingest", "trainer")

_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(value: object) -> str:
    """A compose value as `docker compose` reads it with no variable set."""

    def default(match: re.Match) -> str:
        name, op, fallback, bare = match.groups()
        if bare is not None:
            return ""
        if op and op.endswith("-"):
            return fallback
        if op and op.endswith("?"):
            raise AssertionError(f"${{{name}}} is required by docker-compose.yaml")
        return ""

    return _VAR.sub(default, str(value).replace("$$", "\0")).replace("\0", "$")


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """`registry/name:tag@sha256:...` as (name, tag, digest)."""
    ref, _, digest = ref.partition("@")
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:  # no tag, or the colon was a registry port
        return ref, None, digest or None
    return name, tag, digest or None


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: interpolate(value) for key, value in env.items()}


def settings_names() -> set[str]:
    """Every VOLSPIKE_* name that app/settings.py spells out or reads through a helper."""
    source = SETTINGS.read_text()
    spelled = set(re.findall(r"\bVOLSPIKE_[A-Z0-9_]*[A-Z0-9]\b", source))
    read = re.findall(r"\b_(?:env|int|float|bool)\(\s*[\"']([A-Z0-9_]+)[\"']", source)
    return spelled | {f"VOLSPIKE_{name}" for name in read}


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict), "docker-compose.yaml is not a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    services = compose.get("services")
    assert isinstance(services, dict) and services, "no services"
    return services


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines)
        if word and not word.startswith("#")
    ]


def test_compose_parses(compose, services):
    assert {"kafka", "mlflow", "worker", "ingest", "trainer"} <= set(services)
    for name, service in services.items():
        assert isinstance(service, dict), f"{name}: not a mapping"
        assert "image" in service or "build" in service, f"{name}: neither image nor build"


def test_images_pinned_or_built_here(services):
    for name, service in services.items():
        if "build" in service:
            continue  # test_build_contexts_exist
        image = interpolate(service["image"])
        _, tag, digest = split_image(image)
        assert tag or digest, f"{name}: image {image} has no tag"
        assert tag != "latest", f"{name}: image {image} is not pinned"
        assert digest or re.search(r"\d", tag), f"{name}: tag of {image} names no version"


def test_build_contexts_exist(services):
    built = [name for name, service in services.items() if "build" in service]
    assert set(APP_SERVICES) <= set(built)
    for name in built:
        build = services[name]["build"]
        if isinstance(build, str):
            build = {"context": build}
        context = ROOT / interpolate(build.get("context", "."))
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / interpolate(build.get("dockerfile", "Dockerfile"))
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        image = services[name].get("image")
        if image is not None:
            assert split_image(interpolate(image))[1] != "latest", f"{name}: tagged latest"


def test_every_service_has_a_healthcheck(services):
    for name, service in services.items():
        check = service.get("healthcheck")
        assert isinstance(check, dict), f"{name}: no healthcheck"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test")
        assert test and test not in (["NONE"], "NONE"), f"{name}: healthcheck has no test"
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"


def _published(entry: object) -> tuple[str, str, str]:
    """(host ip, host port, container port) of a `ports` entry; "" where left to Docker."""
    if isinstance(entry, dict):  # without `published`: a random host port
        return (
            interpolate(entry.get("host_ip", "")),
            interpolate(entry.get("published", "")),
            interpolate(entry["target"]),
        )
    spec = interpolate(entry).rsplit("/", 1)[0]  # drop /tcp or /udp
    if spec.startswith("["):  # [::1]:5000:5000
        host, _, rest = spec[1:].partition("]:")
        return (host, *rest.split(":", 1))
    parts = spec.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", "", parts[0]  # a bare container port: published on a random host port


def test_published_ports_bind_loopback(services):
    for name, service in services.items():
        for entry in service.get("ports") or []:
            host_ip = _published(entry)[0]
            assert host_ip == LOOPBACK, f"{name}: port {entry} is not bound to {LOOPBACK}"


def test_depends_on_waits_for_healthy_services(services):
    for name, service in services.items():
        depends = service.get("depends_on")
        if depends is None:
            continue
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for other, spec in depends.items():
            assert other in services, f"{name} depends on unknown service {other}"
            assert other != name, f"{name} depends on itself"
            assert (spec or {}).get("condition") == "service_healthy", (
                f"{name} does not wait for {other} to be healthy"
            )
    assert set(services["worker"]["depends_on"]) >= {"kafka", "mlflow"}
    assert "kafka" in services["ingest"]["depends_on"]


def test_app_environment_names_exist_in_settings(services):
    known = settings_names()
    assert {"VOLSPIKE_BROKER_URL", "VOLSPIKE_DATA_DIR", "VOLSPIKE_WEB_HOST"} <= known
    for name in APP_SERVICES:
        for key in environment(services[name]):
            if key.startswith("VOLSPIKE_"):
                assert key in known, f"{name}: {key} is not a setting in app/settings.py"


def test_worker_setup(services):
    worker = services["worker"]
    env = environment(worker)
    assert env["VOLSPIKE_BROKER_URL"] == "kafka://kafka:9092"
    assert env["VOLSPIKE_TOPIC_DECLARE"] == "true"
    assert env["VOLSPIKE_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["VOLSPIKE_WEB_HOST"] == "0.0.0.0"
    kafka_partitions = environment(services["kafka"])["KAFKA_NUM_PARTITIONS"]
    assert env["VOLSPIKE_PARTITIONS"] == kafka_partitions
    # `--scale worker=N`: no fixed name, no host port, no volume shared between replicas
    assert "container_name" not in worker
    assert not worker.get("ports"), "a published worker port breaks --scale"
    assert "/data" in (worker.get("volumes") or []), "the worker needs its own /data"


def test_trainer_is_a_tool(services):
    assert services["trainer"].get("profiles") == ["tools"]
    command = services["trainer"]["command"]
    command = command.split() if isinstance(command, str) else command
    assert command[:4] == ["python", "-m", "app", "train"]


def test_kafka_external_listener_matches_published_port(services):
    kafka = services["kafka"]
    env = environment(kafka)
    listeners = dict(re.findall(r"(\w+)://[^,:]*:(\d+)", env["KAFKA_LISTENERS"]))
    advertised = re.findall(r"(\w+)://([^,:]+):(\d+)", env["KAFKA_ADVERTISED_LISTENERS"])
    assert ("PLAINTEXT", "kafka", "9092") in advertised
    ports = {_published(entry) for entry in kafka.get("ports") or []}
    for listener, host, port in advertised:
        assert listener in listeners, f"{listener} is advertised but not a listener"
        if listener != "PLAINTEXT":
            # a host client is sent back to this address: it must be the published one
            assert (LOOPBACK, port, listeners[listener]) in ports, (
                f"{listener} advertises {host}:{port}, which is not published"
            )
    protocols = dict(
        pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) <= set(protocols)


def test_named_volumes_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                source = volume.get("source") if volume.get("type", "volume") == "volume" else None
            else:
                source, sep, _ = interpolate(volume).partition(":")
                source = source if sep else None  # "/data": an anonymous volume
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_dockerfile_runs_unprivileged_with_healthcheck(dockerfile):
    words = [word for word, _ in dockerfile]
    users = [args for word, args in dockerfile if word == "USER"]
    last_from = max(i for i, word in enumerate(words) if word == "FROM")
    assert users, "the Dockerfile has no USER"
    final_users = [args for word, args in dockerfile[last_from:] if word == "USER"]
    assert final_users, "the final stage has no USER"
    user = final_users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the image runs as {final_users[-1]}"
    checks = [args for word, args in dockerfile if word == "HEALTHCHECK"]
    assert checks and not checks[-1].upper().startswith("NONE"), "no HEALTHCHECK"
    assert "/health" in checks[-1]
    assert ("EXPOSE", "6066") in dockerfile


def test_dockerfile_base_images_pinned(dockerfile):
    args = {}
    for word, rest in dockerfile:
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args.setdefault(key.strip(), value.strip().strip("\"'"))
    stages = set()
    for word, rest in dockerfile:
        if word != "FROM":
            continue
        parts = [part for part in rest.split() if not part.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), parts[0])
        if len(parts) >= 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
        if image in stages:
            continue
        _, tag, digest = split_image(image)
        assert (tag and tag != "latest") or digest, f"base image {image} is not pinned"
        assert image.startswith("python:3.11"), f"base image {image}"


def test_dockerignore_keeps_local_state_out():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var"} <= ignored


ENV_EXAMPLE = ROOT / ".env.example"


def _host_path(volume: str) -> Path | None:
    source, sep, _ = interpolate(volume).partition(":")
    return ROOT / source if sep and source.startswith(".") else None


def test_prometheus_and_grafana_are_provisioned_from_deploy(services):
    prometheus, grafana = services["prometheus"], services["grafana"]
    mounts = {str(_host_path(v).relative_to(ROOT)): interpolate(v).split(":")[1]
              for v in prometheus["volumes"] + grafana["volumes"] if _host_path(v)}
    assert mounts == {
        "deploy/prometheus": "/etc/prometheus",
        "deploy/grafana/provisioning": "/etc/grafana/provisioning",
        "deploy/grafana/dashboards": "/var/lib/grafana/dashboards",
    }
    for source in mounts:
        assert (ROOT / source).is_dir(), source
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/volspike.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


def test_prometheus_scrapes_the_ports_the_services_serve(services):
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker_sd = jobs["volspike-worker"]["dns_sd_configs"][0]
    assert worker_sd["names"] == ["worker"]  # every replica of a scaled worker
    assert str(worker_sd["port"]) in services["worker"]["expose"]
    assert str(worker_sd["port"]) == environment(services["worker"]).get(
        "VOLSPIKE_WEB_PORT", "6066")
    ingest_env = environment(services["ingest"])
    target = jobs["volspike-ingest"]["static_configs"][0]["targets"][0]
    assert target == f"ingest:{ingest_env['VOLSPIKE_INGEST_METRICS_PORT']}"
    assert ingest_env["VOLSPIKE_WEB_HOST"] == "0.0.0.0"  # reachable from Prometheus
    assert (ROOT / "deploy/prometheus" / config["rule_files"][0]).is_file()


def test_grafana_password_is_a_required_secret_from_env():
    raw = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]["environment"]
    password = raw["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", password), password
    with pytest.raises(AssertionError, match="GRAFANA_ADMIN_PASSWORD"):
        interpolate(password)  # no default: compose refuses to start without .env
    gitignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in gitignored


def test_env_example_lists_every_variable_compose_reads():
    example = {
        line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = {m.group(1) for m in _VAR.finditer(COMPOSE.read_text()) if m.group(1)}
    # GIT_REVISION is set at build time from git, not by the user
    assert used - {"GIT_REVISION"} <= example, used - example
    assert "GRAFANA_ADMIN_PASSWORD=\n" in ENV_EXAMPLE.read_text()  # no shipped password
