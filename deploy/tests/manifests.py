"""The Kubernetes manifests as kustomize renders them."""

import functools
import subprocess
import sys
from pathlib import Path

import yaml

from .dockerfiles import ROOT

BIN = Path(sys.executable).parent
K8S = ROOT / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if path.is_dir())
SECRET_TEMPLATES = K8S / "secrets" / "secrets.template.yaml"


def kustomize(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "kubectl", "kustomize", folder], capture_output=True, text=True, check=False
    )


@functools.cache
def rendered(overlay: str = "minikube") -> tuple[dict, ...]:
    result = kustomize(K8S / "overlays" / overlay)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects(kind: str, overlay: str = "minikube") -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def secret_templates() -> dict[str, dict]:
    docs = yaml.safe_load_all(SECRET_TEMPLATES.read_text())
    return {doc["metadata"]["name"]: doc for doc in docs if doc}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def workloads(overlay: str = "minikube") -> dict[str, dict]:
    """Every Deployment, StatefulSet and Job, by name."""
    return {
        o["metadata"]["name"]: o
        for o in rendered(overlay)
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
    }
