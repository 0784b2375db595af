"""Every metric the alerting rules and the Grafana dashboard name is one the running system exports.

The rules (k8s/base/observability/alerts.yml) and the dashboard (dashboard.json beside them) name
metrics by hand; a renamed or removed metric would leave an alert that can never fire and an empty
panel. This reads every process's /metrics (the relay's on its own port) and looks for each name.
"""

import json
import re
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

OBSERVABILITY = Path(__file__).resolve().parents[2] / "k8s" / "base" / "observability"
# The prefixes of the metrics our processes export (ours, django-prometheus's); `up` and the
# other series Prometheus makes itself are not looked for.
METRIC_NAME = re.compile(r"\b(?:ecomms|notifier|gateway|catalog|orders|django)_[A-Za-z0-9_]+\b")
# The sample names Prometheus stores for a family of each type.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def rule_expressions() -> list[str]:
    groups = YAML(typ="safe").load((OBSERVABILITY / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def named_metrics(expressions: list[str]) -> set[str]:
    # Label values in quotes ("order-list", "5..") are not metric names.
    return {
        name for expr in expressions for name in METRIC_NAME.findall(re.sub(r'"[^"]*"', "", expr))
    }


def exported_metrics(url: str) -> set[str]:
    """Return every series name a /metrics answer holds or announces (a labelled family
    without samples yet is announced by its TYPE line)."""
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    names = set()
    for family in text_string_to_metric_families(response.text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_in_the_alerts_and_the_dashboard_is_exported(stack, alice):
    # One call through the gateway to each service, so that every per-request family exists in
    # each web service's (multi-process) metrics.
    for path in ("/categories/", "/orders/"):
        alice.get(path)
    exported = set()
    for name in ("gateway", "catalog", "orders", "notifier", "relay"):
        exported |= exported_metrics(f"http://127.0.0.1:{stack.ports[name]}/metrics")

    in_rules = named_metrics(rule_expressions())
    in_dashboard = named_metrics(dashboard_expressions())
    # The extraction finds what it must: a name from each source of metrics.
    assert {"ecomms_outbox_backlog", "notifier_dead_letters"} <= in_rules
    assert {
        "django_http_requests_total_by_method_total",
        "catalog_average_price_fast_path_seconds_bucket",
    } <= in_dashboard
    assert in_rules - exported == set(), "alert rules name metrics no process exports"
    assert in_dashboard - exported == set(), "dashboard panels name metrics no process exports"


def test_a_metric_no_process_exports_is_caught(stack):
    exported = exported_metrics(f"http://127.0.0.1:{stack.ports['relay']}/metrics")
    assert "ecomms_outbox_backlog" in exported
    assert named_metrics(["rate(ecomms_outbox_backlogg[5m])"]) - exported == {
        "ecomms_outbox_backlogg"
    }
