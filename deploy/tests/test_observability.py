"""Monitoring: the Grafana dashboard's queries, compose's Prometheus and the Kubernetes overlay
that runs Prometheus and Jaeger. The alerting rules themselves are checked and unit-tested by
`make test` (scripts/test-alerts); this checks where they are loaded and what is scraped."""

import fnmatch
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .compose import resolved
from .dockerfiles import ROOT
from .manifests import K8S, objects, pod_spec
from .test_k8s import allowed, egress_allowed, template_labels

RULES = K8S / "base" / "observability" / "alerts.yml"
DASHBOARD = K8S / "base" / "observability" / "dashboard.json"
COMPOSE_PROMETHEUS = ROOT / "deploy" / "observability" / "prometheus.yml"
OVERLAY = K8S / "overlays" / "observability"
# The job names the rules use, and the workload (Deployment) each one is in Kubernetes.
JOBS = {
    "auth-gateway": "auth-gateway",
    "catalog": "catalog",
    "orders": "orders",
    "relay": "relay",
    "notifier": "notifier",
}
EXACT_TAG = re.compile(r"[a-z0-9./-]+:v?\d+\.\d+\.\d+")


@pytest.fixture(scope="module")
def promtool() -> str:
    result = subprocess.run(
        [ROOT / "scripts" / "ensure-promtool"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def check(promtool: str, *args: str | Path) -> None:
    result = subprocess.run([promtool, "check", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def scrape_jobs(config: Path) -> dict[str, dict]:
    return {job["job_name"]: job for job in yaml.safe_load(config.read_text())["scrape_configs"]}


# --- the dashboard -------------------------------------------------------------------------------


def dashboard_panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    # promtool parses a recording rule's expression as Prometheus would run the panel's query.
    expressions = [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]
    assert len(expressions) >= 15
    rules = [
        {"record": f"dashboard:query_{index}", "expr": expr}
        for index, expr in enumerate(expressions)
    ]
    queries = tmp_path / "dashboard-queries.yml"
    queries.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    check(promtool, "rules", queries)


def test_a_broken_query_is_refused(promtool, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": "sum(("}]}]})
    )
    with pytest.raises(AssertionError):
        check(promtool, "rules", broken)


def test_dashboard_panels_have_ids_a_place_and_the_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["gridPos"]["x"] >= 0 and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


# --- where Prometheus runs ---------------------------------------------------------------------


@pytest.mark.parametrize("config", [COMPOSE_PROMETHEUS, OVERLAY / "prometheus.yml"])
def test_prometheus_configuration_is_valid_and_scrapes_every_job_of_the_rules(promtool, config):
    check(promtool, "config", config)
    assert set(scrape_jobs(config)) == set(JOBS)
    # ServiceHasNoTarget names each job the rules expect a target for.
    assert set(re.findall(r'absent\(up\{job="([^"]+)"\}\)', RULES.read_text())) == set(JOBS)


def test_compose_prometheus_loads_the_rules_and_reaches_each_process_on_its_port():
    services = resolved()["services"]
    prometheus = services["prometheus"]
    assert EXACT_TAG.fullmatch(prometheus["image"]), prometheus["image"]
    mounts = {Path(v["source"]): v["target"] for v in prometheus["volumes"] if v["type"] == "bind"}
    config = yaml.safe_load(COMPOSE_PROMETHEUS.read_text())
    assert mounts[COMPOSE_PROMETHEUS] == "/etc/prometheus/prometheus.yml"
    assert any(fnmatch.fnmatch(mounts[RULES], glob) for glob in config["rule_files"])
    assert {p["host_ip"] for p in prometheus["ports"]} == {"127.0.0.1"}

    for name, job in scrape_jobs(COMPOSE_PROMETHEUS).items():
        if "dns_sd_configs" in job:
            [discovery] = job["dns_sd_configs"]
            targets = [(host, discovery["port"]) for host in discovery["names"]]
        else:
            [static] = job["static_configs"]
            targets = [(t.split(":")[0], int(t.split(":")[1])) for t in static["targets"]]
        for host, port in targets:
            environment = services[host]["environment"]
            listens = environment.get("OUTBOX_RELAY_METRICS_PORT") or environment["PORT"]
            assert int(listens) == port, (name, host)
            # The host name Prometheus sends must be one the process accepts.
            hosts = environment["ALLOWED_HOSTS"].split(",")
            assert host in hosts or "*" in hosts or name == "relay", (name, hosts)


def test_the_overlay_ships_the_rules_and_its_configuration_unchanged():
    config_maps = objects("ConfigMap", "observability")
    assert config_maps["prometheus-rules"]["data"]["alerts.yml"] == RULES.read_text()
    [config_name] = [name for name in config_maps if name.startswith("prometheus-config")]
    overlay_config = (OVERLAY / "prometheus.yml").read_text()
    assert config_maps[config_name]["data"]["prometheus.yml"] == overlay_config
    # The base ships the rules and the dashboard to any overlay, under stable names.
    base = objects("ConfigMap")
    assert base["prometheus-rules"]["data"]["alerts.yml"] == RULES.read_text()
    dashboard = base["grafana-dashboard-ecomms"]
    assert json.loads(dashboard["data"]["ecomms-pipeline.json"]) == json.loads(
        DASHBOARD.read_text()
    )

    prometheus = pod_spec(objects("Deployment", "observability")["prometheus"])
    volumes = {v["name"]: v for v in prometheus["volumes"]}
    [container] = prometheus["containers"]
    mounted = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"])
    config_dir = str(Path(args["config.file"]).parent)
    assert mounted[config_dir]["configMap"]["name"] == config_name
    globs = yaml.safe_load(overlay_config)["rule_files"]
    [rules_mount] = [
        path for path in mounted if any(fnmatch.fnmatch(f"{path}/alerts.yml", g) for g in globs)
    ]
    assert mounted[rules_mount]["configMap"]["name"] == "prometheus-rules"


def test_the_overlay_images_are_pinned_and_only_the_observability_overlay_adds_them():
    for name in ("prometheus", "jaeger"):
        [container] = pod_spec(objects("Deployment", "observability")[name])["containers"]
        assert EXACT_TAG.fullmatch(container["image"]), container["image"]
        assert name not in objects("Deployment")  # minikube stays as it was


def test_every_overlay_scrape_target_is_a_headless_service_over_that_jobs_pods():
    services = objects("Service", "observability")
    deployments = objects("Deployment", "observability")
    for job, config in scrape_jobs(OVERLAY / "prometheus.yml").items():
        [discovery] = config["dns_sd_configs"]
        [name] = discovery["names"]
        service_name, namespace = name.split(".")[:2]
        assert namespace == "ecomms"
        service = services[service_name]["spec"]
        assert service["clusterIP"] == "None" and service["publishNotReadyAddresses"] is True
        [port] = service["ports"]
        assert port["port"] == discovery["port"]
        deployment = deployments[JOBS[job]]
        labels = template_labels(deployment)
        assert all(labels.get(k) == v for k, v in service["selector"].items()), job
        [container] = [
            c
            for c in pod_spec(deployment)["containers"]
            if any(p["name"] == port["targetPort"] for p in c.get("ports", []))
        ]
        [container_port] = [p for p in container["ports"] if p["name"] == port["targetPort"]]
        assert container_port["containerPort"] == discovery["port"], job


def test_prometheus_may_scrape_every_job_and_the_services_may_send_spans_to_jaeger():
    deployments = objects("Deployment", "observability")
    prometheus = template_labels(deployments["prometheus"])
    jaeger = template_labels(deployments["jaeger"])
    jaeger_service = objects("Service", "observability")["jaeger"]["spec"]
    assert {"port": 4318, "name": "otlp-http", "targetPort": "otlp-http"} in jaeger_service["ports"]
    for job, config in scrape_jobs(OVERLAY / "prometheus.yml").items():
        target = template_labels(deployments[JOBS[job]])
        port = config["dns_sd_configs"][0]["port"]
        assert allowed(target, prometheus, "ecomms", overlay="observability"), job
        assert egress_allowed(prometheus, (target, "ecomms"), port, overlay="observability"), job
        assert allowed(jaeger, target, "ecomms", overlay="observability"), job
        assert egress_allowed(target, (jaeger, "ecomms"), 4318, overlay="observability"), job
    # Nothing else: Prometheus reaches neither the database nor the broker, and no service is
    # open to Prometheus in the overlay without it.
    postgres = template_labels(objects("StatefulSet", "observability")["postgres"])
    assert not egress_allowed(prometheus, (postgres, "ecomms"), 5432, overlay="observability")
    catalog = template_labels(deployments["catalog"])
    assert not allowed(catalog, prometheus, "ecomms")  # the minikube overlay has no Prometheus
