"""The Kubernetes manifests: valid against the Kubernetes schemas, and consistent together."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from deploy_helpers import DEPLOY

K8S = DEPLOY / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
#: The oldest release whose StatefulSet pods carry the pod-index label the SuperNodes read,
#: and the newest schema kubernetes-validate ships.
VERSIONS = ("1.30.0", "latest")


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resources() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for p in MANIFESTS for d in documents(p)}


def pod_spec(resource: dict) -> dict:
    return resource["spec"]["template"]["spec"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_resource_is_valid_against_the_kubernetes_schema(path: Path, version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (extra: deploy)"
    )
    target = kubernetes_validate.latest_version() if version == "latest" else version
    for document in documents(path):
        kubernetes_validate.validate(document, target, strict=True)


def test_the_validator_rejects_an_unknown_field() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (extra: deploy)"
    )
    service = resources()[("Service", "fedarena-superlink")]
    broken = {**service, "spec": {**service["spec"], "prots": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


def test_the_parts_are_there() -> None:
    kinds = {kind for kind, _ in resources()}
    assert {"Deployment", "Service", "StatefulSet", "Job"} <= kinds


def test_supernodes_dial_the_superlink_service_and_read_keys_from_a_secret() -> None:
    found = resources()
    service = found[("Service", "fedarena-superlink")]
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "fleet")
    address = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{port}"
    nodes = found[("StatefulSet", "fedarena-supernode")]
    container = pod_spec(nodes)["containers"][0]
    assert f"--superlink={address}" in container["args"]
    key_arg = next(a for a in container["args"] if a.startswith("--auth-supernode-private-key="))
    mount = next(
        m for m in container["volumeMounts"] if key_arg.split("=")[1].startswith(m["mountPath"])
    )
    volume = next(v for v in pod_spec(nodes)["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "fedarena-supernode-keys"
    partitions = next(e["value"] for e in container["env"] if e["name"] == "NUM_PARTITIONS")
    assert int(partitions) == nodes["spec"]["replicas"]
    assert nodes["spec"]["serviceName"] in {name for kind, name in found if kind == "Service"}


def _option(args: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in args if a.startswith(f"{name}="))


def test_the_service_exposes_the_fleet_api_only_and_the_control_api_stays_in_the_pod() -> None:
    found = resources()
    container = pod_spec(found[("Deployment", "fedarena-superlink")])["containers"][0]
    args = container["args"]
    assert container["command"] == ["python", "-m", "fedarena.flower.superlink"]
    assert "--enable-supernode-auth" in args and "--insecure" not in args
    assert _option(args, "--host") == "127.0.0.1"
    fleet = int(_option(args, "--fleet-port"))
    assert fleet != int(_option(args, "--port"))
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service = found[("Service", "fedarena-superlink")]
    exposed = {container_ports[p["targetPort"]] for p in service["spec"]["ports"]}
    assert exposed == {fleet, 9100}


@pytest.mark.parametrize(
    "key", [("Deployment", "fedarena-superlink"), ("Job", "fedarena-matrix-smoke")]
)
def test_prometheus_scrapes_a_port_the_pod_declares(key: tuple[str, str]) -> None:
    resource = resources()[key]
    annotations = resource["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    ports = {p["containerPort"] for c in pod_spec(resource)["containers"] for p in c["ports"]}
    assert int(annotations["prometheus.io/port"]) in ports


def test_every_pod_runs_as_the_images_non_root_user() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    image = compose["x-fedarena"]["image"]
    for (kind, name), resource in resources().items():
        if "template" not in resource.get("spec", {}):
            continue
        spec = pod_spec(resource)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        for container in spec["containers"]:
            assert container["image"] == image, f"{kind} {name}"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
