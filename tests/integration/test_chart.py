"""charts/lbspeaker: lints, stays generated from manifests/, and with default values renders the
objects `kubectl kustomize manifests/` renders; its values reach the objects they name.

`helm template` runs offline, so these tests need helm and kubectl (tools/setup.sh builds both)
and no apiserver, except the last, which has the lab's apiserver accept every object.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from lbspeaker.lab.controlplane import find_binaries
from lbspeaker.lab.lab import Lab
from tests.conftest import INSTALL_NAMESPACE, REPO

pytestmark = pytest.mark.integration

CHART = REPO / "charts" / "lbspeaker"
HELM = REPO / ".venv" / "bin" / "helm"

ObjectKey = tuple[str, str, str]  # kind, namespace, name


def _sync_chart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_chart", REPO / "tools" / "sync_chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def _run(*argv: str | Path) -> str:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def helm_template(*flags: str) -> dict[ObjectKey, dict[str, Any]]:
    rendered = _run(
        HELM, "template", "lbspeaker", CHART, "--namespace", INSTALL_NAMESPACE, "--include-crds",
        *flags,
    )  # fmt: skip
    return _by_key(rendered)


def _by_key(rendered: str) -> dict[ObjectKey, dict[str, Any]]:
    objects: dict[ObjectKey, dict[str, Any]] = {}
    for document in yaml.safe_load_all(rendered):
        if not document:
            continue
        metadata = document["metadata"]
        key = (document["kind"], metadata.get("namespace", ""), metadata["name"])
        assert key not in objects, f"rendered twice: {key}"
        objects[key] = document
    return objects


def _kustomize() -> dict[ObjectKey, dict[str, Any]]:
    return _by_key(_run(find_binaries() / "kubectl", "kustomize", REPO / "manifests"))


def _container(objects: dict[ObjectKey, dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    pod = objects[(kind, INSTALL_NAMESPACE, name)]["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    return container


@pytest.mark.parametrize(
    "flags",
    [(), ("--set", "metrics.serviceMonitor.enabled=true", "--set", "namespace.create=true")],
)
def test_helm_lint_passes_strict(flags: tuple[str, ...]) -> None:
    _run(HELM, "lint", "--strict", CHART, *flags)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("speaker.leaseSeconds=three", "/speaker/leaseSeconds"),
        ("speaker.renewInterval=fast", "/speaker/renewInterval"),
        ("logLevel=LOUD", "/logLevel"),
        ("speaker.leaseSecond=3", "'leaseSecond' not allowed"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ],
)
def test_a_bad_value_is_refused_naming_it(value: str, named: str) -> None:
    result = subprocess.run(
        [str(HELM), "template", "lbspeaker", str(CHART), "--set", value],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert named in result.stderr


def test_the_chart_is_generated_from_the_current_manifests() -> None:
    sync = _sync_chart()
    for path, text in sync.chart_files().items():
        assert (CHART / path).read_text() == text, (
            f"charts/lbspeaker/{path} is stale: run `python tools/sync_chart.py`"
        )


def test_the_chart_crds_are_the_generated_crds() -> None:
    committed = (REPO / "manifests" / "crds" / "lbspeaker.io_crds.yaml").read_text()
    assert (CHART / "crds" / "lbspeaker.io_crds.yaml").read_text() == committed


def test_default_values_render_what_kustomize_renders_but_the_namespace() -> None:
    kustomized = _kustomize()
    rendered = helm_template()
    namespace = ("Namespace", "", INSTALL_NAMESPACE)
    assert set(kustomized) - set(rendered) == {namespace}
    assert set(rendered) - set(kustomized) == set()
    for key, obj in rendered.items():
        assert obj == kustomized[key], f"{key} differs from manifests/"


def test_the_namespace_is_rendered_only_when_asked() -> None:
    kustomized = _kustomize()
    rendered = helm_template("--set", "namespace.create=true")
    assert rendered == kustomized


def test_image_resources_placement_and_log_level_come_from_values() -> None:
    rendered = helm_template(
        "--set", "image.repository=registry.example/lbspeaker", "--set", "image.tag=0.2.0",
        "--set", "image.pullPolicy=Always", "--set", "logLevel=DEBUG",
        "--set", "controller.resources.limits.memory=1Gi",
        "--set", "speaker.nodeSelector.lbspeaker=yes",
        "--set", "controller.tolerations[0].operator=Exists",
    )  # fmt: skip
    controller = _container(rendered, "Deployment", "lbspeaker-controller")
    speaker = _container(rendered, "DaemonSet", "lbspeaker-speaker")
    for container in (controller, speaker):
        assert container["image"] == "registry.example/lbspeaker:0.2.0"
        assert container["imagePullPolicy"] == "Always"
        assert container["args"][0] == "--log-level=DEBUG"
    assert controller["args"][1] == "controller" and speaker["args"][1] == "speaker"
    assert controller["resources"]["limits"]["memory"] == "1Gi"
    pod = rendered[("DaemonSet", INSTALL_NAMESPACE, "lbspeaker-speaker")]["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "lbspeaker": "yes"}
    deployment = rendered[("Deployment", INSTALL_NAMESPACE, "lbspeaker-controller")]
    assert deployment["spec"]["template"]["spec"]["tolerations"] == [{"operator": "Exists"}]


def test_speaker_timing_flags_are_passed_only_when_set() -> None:
    default = _container(helm_template(), "DaemonSet", "lbspeaker-speaker")["args"]
    assert not [a for a in default if a.startswith(("--lease", "--renew", "--fence"))]
    tuned = helm_template(
        "--set", "speaker.leaseSeconds=1", "--set", "speaker.renewInterval=0.25",
        "--set", "speaker.fenceMargin=0.25", "--set", "speaker.extraArgs[0]=--only-own-class",
    )  # fmt: skip
    args = _container(tuned, "DaemonSet", "lbspeaker-speaker")["args"]
    assert args[-4:] == [
        "--lease-seconds=1",
        "--renew-interval=0.25",
        "--fence-margin=0.25",
        "--only-own-class",
    ]


def test_a_service_monitor_per_component_scrapes_the_metrics_port() -> None:
    assert not [key for key in helm_template() if key[0] == "ServiceMonitor"]
    rendered = helm_template(
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.serviceMonitor.labels.release=prometheus",
        "--set", "speaker.metricsPort=9473",
    )  # fmt: skip
    for component, port in (("controller", 7472), ("speaker", 9473)):
        monitor = rendered[("ServiceMonitor", INSTALL_NAMESPACE, f"lbspeaker-{component}")]
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        service = rendered[("Service", INSTALL_NAMESPACE, f"lbspeaker-{component}-metrics")]
        assert service["spec"]["selector"] == monitor["spec"]["selector"]["matchLabels"]
        assert service["spec"]["ports"][0]["port"] == port
    speaker = _container(rendered, "DaemonSet", "lbspeaker-speaker")
    assert speaker["ports"][0] == {
        "name": "metrics",
        "containerPort": 9473,
        "hostPort": 9473,
        "protocol": "TCP",
    }
    assert "--metrics-port=9473" in speaker["args"]


def test_sync_stops_on_a_manifest_line_it_no_longer_finds(tmp_path: Path) -> None:
    sync = _sync_chart()
    edited = (
        (REPO / "manifests" / "controller.yaml").read_text().replace("replicas: 2", "replicas: 3")
    )
    with pytest.raises(sync.ChartSyncError, match="replicas: 2"):
        for hook in sync.HOOKS["controller.yaml"]:
            edited = sync.apply_hook("controller.yaml", edited, hook)


def test_the_apiserver_accepts_every_object_the_chart_renders(crds: Lab) -> None:
    """Server-side dry run of the chart's objects, with values a user would change; the
    install on real nodes, with running Pods, belongs to the real-node lab."""
    rendered = _run(
        HELM, "template", "lbspeaker", CHART, "--namespace", INSTALL_NAMESPACE, "--include-crds",
        "--kube-version", "1.34.4", "--set", "metrics.serviceMonitor.enabled=false",
        "--set", "logLevel=DEBUG", "--set", "speaker.leaseSeconds=5",
        "--set", "controller.tolerations[0].operator=Exists",
    )  # fmt: skip
    manifest = crds.directory / "chart-rendered.yaml"
    manifest.write_text(rendered)
    result = crds.kubectl("apply", "--dry-run=server", "-f", str(manifest), check=False)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(_by_key(rendered))
