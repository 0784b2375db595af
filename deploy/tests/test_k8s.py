"""k8s/: every overlay renders, every object is valid Kubernetes, and the shape the stack needs."""

import ipaddress
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from .dockerfiles import ROOT, SERVICES
from .manifests import K8S, OVERLAYS, kustomize, objects, pod_spec, rendered, secret_templates
from .manifests import workloads as all_workloads
from .test_consistency import WEB_PORTS, k8s_variables

KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
WEB = ["catalog", "orders", "auth-gateway"]


def test_there_is_a_minikube_overlay():
    assert "minikube" in OVERLAYS


@pytest.mark.parametrize("folder", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_kustomize_renders(folder):
    result = kustomize(K8S / folder)
    assert result.returncode == 0, result.stderr
    assert "kind: Deployment" in result.stdout


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schema(overlay, version):
    for obj in rendered(overlay):
        kubernetes_validate.validate(obj, version, strict=True)


def test_secret_templates_validate_and_hold_no_real_values():
    templates = secret_templates()
    for secret in templates.values():
        kubernetes_validate.validate(secret, KUBERNETES_VERSIONS[-1], strict=True)
        for key, value in secret["stringData"].items():
            if any(word in key for word in ("PASS", "SECRET", "KEY", "URL", "pem")):
                assert "REPLACE_ME" in value, (secret["metadata"]["name"], key)


def test_secrets_are_not_applied_by_kustomize():
    # An apply must never overwrite the operator's real values with templates.
    assert not objects("Secret")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_uses_locally_built_images(overlay):
    for workload in all_workloads(overlay).values():
        spec = pod_spec(workload)
        for container in spec["containers"] + spec.get("initContainers", []):
            if container["image"].startswith("ecomms/"):
                assert container["image"].endswith(":local"), container["image"]


def test_namespace_and_everything_in_it():
    assert "ecomms" in objects("Namespace")
    for obj in rendered():
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "ecomms", obj["metadata"]["name"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_configmap_deployment_service_and_migration_job(service):
    assert service in objects("ConfigMap")
    assert service in objects("Service")
    deployment = objects("Deployment")[service]
    if service in WEB:
        assert deployment["spec"]["replicas"] == 2
    job = objects("Job")[f"{service}-migrate"]
    container = pod_spec(job)["containers"][0]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert container["image"] == pod_spec(deployment)["containers"][0]["image"]


def test_relay_runs_from_the_orders_image():
    relay = pod_spec(objects("Deployment")["relay"])["containers"][0]
    orders = pod_spec(objects("Deployment")["orders"])["containers"][0]
    assert relay["command"] == ["python", "manage.py", "relay_outbox"]
    assert relay["image"] == orders["image"]


def test_stateful_parts_have_volumes():
    statefulsets = objects("StatefulSet")
    assert {"postgres", "rabbitmq"} <= statefulsets.keys()
    for statefulset in statefulsets.values():
        assert statefulset["spec"]["volumeClaimTemplates"]


def test_every_pod_runs_non_root_read_only_with_resources():
    for name, workload in all_workloads().items():
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"] + spec.get("initContainers", []):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert security["allowPrivilegeEscalation"] is False, (name, container["name"])
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][kind].keys(), name


def test_every_service_deployment_has_probes_on_healthz_and_readyz():
    for service in SERVICES:
        container = pod_spec(objects("Deployment")[service])["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_every_replicated_deployment_has_a_disruption_budget():
    budgets = objects("PodDisruptionBudget").values()
    for name, deployment in objects("Deployment").items():
        if deployment["spec"]["replicas"] < 2:
            continue
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(
            budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
            for budget in budgets
        ), name


def test_ingress_reaches_the_gateway_only():
    (ingress,) = objects("Ingress").values()
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"auth-gateway"}


# --- NetworkPolicies: who may open a connection to whom -------------------------------------


def _matches(selector: dict, labels: dict) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        if (
            expression["operator"] == "In"
            and labels.get(expression["key"]) not in expression["values"]
        ):
            return False
    return True


def allowed(
    target_labels: dict, source_labels: dict, source_namespace: str, overlay: str = "minikube"
) -> bool:
    """Whether the namespace's policies admit a connection from source to target."""
    selecting = [
        p
        for p in objects("NetworkPolicy", overlay).values()
        if _matches(p["spec"]["podSelector"], target_labels)
    ]
    assert selecting, "a pod no policy selects would be open to all"
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:
                    names = {"kubernetes.io/metadata.name": source_namespace}
                    if _matches(peer["namespaceSelector"], names) and _matches(
                        peer.get("podSelector", {}), source_labels
                    ):
                        return True
                elif source_namespace == "ecomms" and _matches(peer["podSelector"], source_labels):
                    return True
    return False


def pod_labels(deployment: str) -> dict:
    return objects("Deployment")[deployment]["spec"]["template"]["metadata"]["labels"]


INGRESS_CONTROLLER = ({"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")


def test_only_the_gateway_is_reachable_from_the_ingress_controller():
    assert allowed(pod_labels("auth-gateway"), *INGRESS_CONTROLLER)
    for name in ("catalog", "orders", "notifier", "relay"):
        assert not allowed(pod_labels(name), *INGRESS_CONTROLLER), name


@pytest.mark.parametrize(
    ("target", "callers"),
    [
        ("catalog", {"auth-gateway", "orders"}),
        ("orders", {"auth-gateway"}),
        ("auth-gateway", {"catalog", "orders"}),  # their JWKS fetches
        ("notifier", set()),
    ],
)
def test_each_service_is_reachable_from_its_callers_only(target, callers):
    for source in ("catalog", "orders", "auth-gateway", "notifier", "relay"):
        if source == target:
            continue
        expected = source in callers
        assert allowed(pod_labels(target), pod_labels(source), "ecomms") is expected, source


def test_databases_and_broker_are_reachable_from_their_users_only():
    postgres = objects("StatefulSet")["postgres"]["spec"]["template"]["metadata"]["labels"]
    rabbitmq = objects("StatefulSet")["rabbitmq"]["spec"]["template"]["metadata"]["labels"]
    for name in ("catalog", "orders", "auth-gateway", "notifier", "relay"):
        assert allowed(postgres, pod_labels(name), "ecomms"), name
    assert allowed(postgres, pod_spec_labels_of_job("catalog-migrate"), "ecomms")
    for name in ("orders", "relay", "notifier"):
        assert allowed(rabbitmq, pod_labels(name), "ecomms"), name
    for name in ("catalog", "auth-gateway"):
        assert not allowed(rabbitmq, pod_labels(name), "ecomms"), name
    assert not allowed(postgres, *INGRESS_CONTROLLER)


def test_the_rate_limit_store_is_reachable_from_the_gateway_only():
    redis = objects("Deployment")["redis"]["spec"]["template"]["metadata"]["labels"]
    assert allowed(redis, pod_labels("auth-gateway"), "ecomms")
    for name in ("catalog", "orders", "notifier", "relay"):
        assert not allowed(redis, pod_labels(name), "ecomms"), name
    assert not allowed(redis, *INGRESS_CONTROLLER)
    assert objects("ConfigMap")["auth-gateway"]["data"]["RATE_LIMIT_STORE_URL"] == (
        "redis://redis:6379/0"
    )


def pod_spec_labels_of_job(name: str) -> dict:
    return objects("Job")[name]["spec"]["template"]["metadata"]["labels"]


def test_every_pod_carries_the_stack_label():
    # The kind workflow collects logs by it.
    for name, workload in all_workloads().items():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "ecomms", name


# --- NetworkPolicies: where a pod may open a connection to (egress) ---------------------------

KUBE_DNS = ({"k8s-app": "kube-dns"}, "kube-system")
OUTSIDE = "142.250.74.78"  # an address on the internet (one of Google's)
PRIVATE_RANGES = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
]


def egress_allowed(
    source: dict,
    target: tuple[dict, str] | str,
    port: int,
    protocol="TCP",
    overlay: str = "minikube",
) -> bool:
    """Whether the namespace's policies let a pod labelled ``source`` open a connection to
    ``target`` (a pod's labels and namespace, or an IP address) on ``port``."""
    selecting = [
        p
        for p in objects("NetworkPolicy", overlay).values()
        if "Egress" in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], source)
    ]
    assert selecting, "a pod no egress policy selects could reach anything"
    for policy in selecting:
        for rule in policy["spec"].get("egress", []):
            ports = rule.get("ports")
            if ports and not any(
                p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
            ):
                continue
            if "to" not in rule or any(_egress_peer(peer, target) for peer in rule["to"]):
                return True
    return False


def _egress_peer(peer: dict, target: tuple[dict, str] | str) -> bool:
    if "ipBlock" in peer:
        if not isinstance(target, str):
            return False  # pod addresses are private: what these blocks leave out
        address = ipaddress.ip_address(target)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(n) for n in block.get("except", [])
        )
    if isinstance(target, str):
        return False
    labels, namespace = target
    if "namespaceSelector" in peer:
        names = {"kubernetes.io/metadata.name": namespace}
        return _matches(peer["namespaceSelector"], names) and _matches(
            peer.get("podSelector", {}), labels
        )
    return namespace == "ecomms" and _matches(peer["podSelector"], labels)


def template_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"]["labels"]


def service_target(host: str, port: int) -> tuple[dict, int]:
    """The labels of the pods behind the Service ``host`` and the pod port its ``port`` leads to."""
    service = objects("Service")[host]
    [service_port] = [p for p in service["spec"]["ports"] if p["port"] == port]
    for workload in all_workloads().values():
        labels = template_labels(workload)
        if _matches({"matchLabels": service["spec"]["selector"]}, labels):
            for container in pod_spec(workload)["containers"]:
                for container_port in container.get("ports", []):
                    if service_port["targetPort"] in (
                        container_port["name"],
                        container_port["containerPort"],
                    ):
                        return labels, container_port["containerPort"]
    raise AssertionError(f"no pod behind the Service {host}:{port}")


def our_containers() -> list[tuple[str, dict, str, dict]]:
    """(workload, pod labels, service, container) for every container of our images."""
    found = []
    for name, workload in all_workloads().items():
        spec = pod_spec(workload)
        for container in spec["containers"] + spec.get("initContainers", []):
            image = container["image"].split(":")[0]
            if image.startswith("ecomms/"):
                service = image.removeprefix("ecomms/")
                found.append((name, template_labels(workload), service, container))
    return found


def test_egress_is_denied_unless_a_policy_lets_it():
    policies = objects("NetworkPolicy")
    default = policies["default-deny-egress"]["spec"]
    assert default == {"podSelector": {}, "policyTypes": ["Egress"]}
    for name, workload in all_workloads().items():
        labels = template_labels(workload)
        assert not egress_allowed(labels, OUTSIDE, 80), name
        assert not egress_allowed(labels, OUTSIDE, 5432), name
        assert not egress_allowed(labels, KUBE_DNS, 443), name
    for name in ("postgres", "rabbitmq"):  # the stateful parts reach nothing but DNS
        labels = template_labels(objects("StatefulSet")[name])
        for target in ("catalog", "orders", "auth-gateway"):
            target_labels, port = service_target(target, WEB_PORTS[target])
            assert not egress_allowed(labels, (target_labels, "ecomms"), port), name
        assert not egress_allowed(labels, OUTSIDE, 443), name


def test_every_pod_may_resolve_names():
    for name, workload in all_workloads().items():
        for protocol in ("UDP", "TCP"):
            assert egress_allowed(template_labels(workload), KUBE_DNS, 53, protocol), name


def test_every_container_may_reach_what_its_variables_name():
    # DATABASE_URL everywhere; the broker from orders and the notifier (not their migrations);
    # the URLs of other services and Redis from the web pods that call them.
    checked = set()
    for workload, labels, service, container in our_containers():
        values = k8s_variables(service, container)
        needed = ["DATABASE_URL"]
        if labels["app.kubernetes.io/component"] != "migrate" and service in ("orders", "notifier"):
            needed.append("AMQP_URL")
        if labels["app.kubernetes.io/component"] == "web":
            needed += ["CATALOG_URL", "ORDERS_URL", "AUTH_JWKS_URL", "RATE_LIMIT_STORE_URL"]
        for variable in needed:
            if variable not in values:
                continue
            url = urlparse(values[variable])
            if url.hostname == service:
                continue  # the gateway's own JWKS: it verifies with its keys, never over HTTP
            target_labels, port = service_target(url.hostname, url.port)
            where = (workload, container["name"], variable)
            assert egress_allowed(labels, (target_labels, "ecomms"), port), where
            assert allowed(target_labels, labels, "ecomms"), where  # and the target lets it in
            checked.add((service, variable))
    assert {
        ("catalog", "DATABASE_URL"),
        ("orders", "AMQP_URL"),
        ("notifier", "AMQP_URL"),
        ("orders", "CATALOG_URL"),
        ("catalog", "AUTH_JWKS_URL"),
        ("auth-gateway", "ORDERS_URL"),
        ("auth-gateway", "RATE_LIMIT_STORE_URL"),
    } <= checked


def test_pods_reach_no_service_they_do_not_call():
    rabbitmq = template_labels(objects("StatefulSet")["rabbitmq"])
    redis = template_labels(objects("Deployment")["redis"])
    for name in ("catalog", "auth-gateway", "catalog-migrate", "orders-migrate"):
        assert not egress_allowed(
            template_labels(all_workloads()[name]), (rabbitmq, "ecomms"), 5672
        )
    for name in ("catalog", "orders", "notifier", "relay"):
        assert not egress_allowed(template_labels(all_workloads()[name]), (redis, "ecomms"), 6379)
    catalog, port = service_target("catalog", 8001)
    for name in ("notifier", "relay", "orders-migrate"):
        assert not egress_allowed(template_labels(all_workloads()[name]), (catalog, "ecomms"), port)


def test_only_the_providers_are_reached_outside_the_cluster():
    gateway = pod_labels("auth-gateway")
    discovery = urlparse(objects("ConfigMap")["auth-gateway"]["data"]["OIDC_OP_DISCOVERY_URL"])
    assert discovery.scheme == "https"
    assert egress_allowed(gateway, OUTSIDE, 443)  # the OIDC provider
    notifier = pod_labels("notifier")
    smtp_port = int(objects("ConfigMap")["notifier"]["data"]["EMAIL_PORT"])
    assert egress_allowed(notifier, OUTSIDE, 443)  # Africa's Talking
    assert egress_allowed(notifier, OUTSIDE, smtp_port)
    for network in PRIVATE_RANGES:  # not the cluster's own addresses through those rules
        inside = str(next(network.hosts()))
        assert not egress_allowed(gateway, inside, 443)
        assert not egress_allowed(notifier, inside, smtp_port)
    for name, workload in all_workloads().items():
        if name in ("auth-gateway", "notifier"):
            continue
        assert not egress_allowed(template_labels(workload), OUTSIDE, 443), name
        assert not egress_allowed(template_labels(workload), OUTSIDE, smtp_port), name


APPLY_STEP = (
    "kubectl -n ecomms delete job -l app.kubernetes.io/component=migrate --ignore-not-found",
    "kubectl apply -k k8s/overlays/{overlay}",
    "kubectl -n ecomms wait --for=condition=complete job --all --timeout=300s",
)


def test_migration_jobs_stay_until_the_next_apply_deletes_them():
    # A Job that deletes itself (TTL) is missing for `kubectl wait ... job --all`; one that stays
    # must be deleted before an apply with a new image, since its pod template cannot change.
    jobs = objects("Job")
    assert len(jobs) == 4
    for name, job in jobs.items():
        assert "ttlSecondsAfterFinished" not in job["spec"], name
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"
    readme = (K8S / "README.md").read_text()
    for overlay in ("minikube", "kind"):
        lines = [line.format(overlay=overlay) for line in APPLY_STEP]
        assert "\n".join(lines) in readme, overlay
    kind_workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "kind.yml").read_text())
    runs = [step.get("run", "") for step in kind_workflow["jobs"]["deploy-and-smoke"]["steps"]]
    step = "\n".join(line.format(overlay="kind") for line in APPLY_STEP)
    assert sum(run.startswith(step) for run in runs) == 2  # the flow, and the flow again


def test_postgres_is_ready_only_when_it_answers_over_tcp():
    # During first initialisation the image runs a server on the Unix socket only.
    (container,) = pod_spec(objects("StatefulSet")["postgres"])["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:3] == ["pg_isready", "-h", "127.0.0.1"], probe


SERVICE_POD = K8S / "components" / "service-pod"


def test_what_every_service_deployment_shares_is_written_once():
    # k8s/components/service-pod holds it; the Deployments' own files do not repeat it.
    shared = ("readOnlyRootFilesystem", "runAsUser", "automountServiceAccountToken", "emptyDir: ")
    files = [*K8S.glob("base/*/deployment.yaml"), K8S / "base" / "orders" / "relay-deployment.yaml"]
    for path in files:
        if path.parent.name == "redis":  # not one of our images: its own user and volume
            continue
        text = path.read_text()
        assert not [word for word in shared if word in text], path
    component = yaml.safe_load((SERVICE_POD / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    assert (
        "../components/service-pod"
        in yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["components"]
    )
    for name, deployment in objects("Deployment").items():
        if name == "redis":
            continue
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False, name
        assert [c["name"] for c in spec["containers"]] == ["app"], name
        (wait,) = spec["initContainers"]
        assert wait["command"] == ["python", "manage.py", "migrate", "--check", "--noinput"], name
        assert wait["image"] == spec["containers"][0]["image"], name  # the service's own image
        assert {"name": "tmp", "emptyDir": {}} in spec["volumes"], name
