"""lbspeaker installed the way a user installs it, on the real-node lab, by either route of
docs/installation.md: `kubectl apply -k manifests/` or `helm install` of charts/lbspeaker.

Shared by the real-node tests, the real-node demo and tools/measure-real-nodes.py: the install,
an example pool, and a backend Deployment (the lbspeaker image's own Python serving its Pod's
name) behind a LoadBalancer Service.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Literal

from lbspeaker.lab.lab import Lab, LabError
from lbspeaker.lab.real_nodes import built_by

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
CHART = REPO / "charts" / "lbspeaker"
INSTALL_NAMESPACE = "lbspeaker-system"
RELEASE = "lbspeaker"
Route = Literal["manifests", "helm"]
ROUTES: tuple[Route, ...] = ("manifests", "helm")
# The image and pull policy the manifests deploy (the chart's defaults are the same; said
# explicitly so this route installs what the lab imported into its nodes whatever the defaults).
HELM_IMAGE_VALUES = (
    "--set", "image.repository=lbspeaker", "--set", "image.tag=0.1.0",
    "--set", "image.pullPolicy=IfNotPresent",
)  # fmt: skip
BACKEND_NAMESPACE = "web"
ROLLOUT_TIMEOUT = "180s"

# Each replica answers GET / with its Pod's name, so the client sees which Pod answered. Its
# labels and port are those manifests/examples/service.yaml selects.
BACKEND_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: http
        image: lbspeaker:0.1.0
        command: [sh, -c]
        args: ['echo "$POD_NAME" >/srv/index.html; exec python3 -m http.server 8080 -d /srv']
        env:
        - name: POD_NAME
          valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 2}}
        securityContext: {{readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}}
        volumeMounts: [{{name: srv, mountPath: /srv}}]
      volumes: [{{name: srv, emptyDir: {{sizeLimit: 1Mi}}}}]
"""
BACKEND_SERVICE = """
apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {namespace}}}
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def kubectl(lab: Lab, *args: str, stdin: str | None = None) -> str:
    """kubectl against the lab; its output, or LabError with its message."""
    done = lab.kubectl(*args, check=False, stdin=stdin)
    if done.returncode != 0:
        raise LabError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def find_helm() -> Path:
    """The helm binary, from the cache tools/build-helm.sh keeps (and tools/setup.sh fills)."""
    return built_by("build-helm.sh")


def helm(lab: Lab, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm against the lab, its cache and configuration in the lab's directory, not in ~/."""
    home = lab.directory / "helm"
    env = {
        **lab.env(),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    done = subprocess.run(
        [str(find_helm()), *args], env=env, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise LabError(f"helm {' '.join(args)}: {done.stderr.strip()}")
    return done


def install(lab: Lab, route: Route = "manifests") -> None:
    """lbspeaker installed by `route`, then both workloads rolled out through their probes.

    helm: the namespace first, created and labelled by manifests/namespace.yaml (`helm
    install` stores its release there before it creates anything, docs/installation.md)."""
    if route == "manifests":
        kubectl(lab, "apply", "-k", str(MANIFESTS))
    else:
        kubectl(lab, "apply", "-f", str(MANIFESTS / "namespace.yaml"))
        helm(lab, "install", RELEASE, str(CHART), "-n", INSTALL_NAMESPACE, *HELM_IMAGE_VALUES)
    wait_rolled_out(lab)


def wait_rolled_out(lab: Lab) -> None:
    for workload in ("deployment/lbspeaker-controller", "daemonset/lbspeaker-speaker"):
        kubectl(
            lab, "-n", INSTALL_NAMESPACE, "rollout", "status", workload,
            f"--timeout={ROLLOUT_TIMEOUT}",
        )  # fmt: skip


def apply_example(lab: Lab, name: str) -> None:
    """One of manifests/examples/ (l2.yaml, bgp.yaml), as written."""
    kubectl(lab, "apply", "-f", str(MANIFESTS / "examples" / name))


def deploy_backend(lab: Lab, namespace: str = BACKEND_NAMESPACE, service: bool = True) -> None:
    """The backend Deployment, rolled out, and (unless `service` is False, when an example's
    Service is used instead) its LoadBalancer Service `web`."""
    if service:
        kubectl(lab, "apply", "-f", "-", stdin=BACKEND_SERVICE.format(namespace=namespace))
    kubectl(lab, "apply", "-f", "-", stdin=BACKEND_DEPLOYMENT.format(namespace=namespace))
    kubectl(
        lab, "-n", namespace, "rollout", "status", "deployment/web",
        f"--timeout={ROLLOUT_TIMEOUT}",
    )  # fmt: skip


def remove_backend(lab: Lab, namespace: str) -> None:
    lab.kubectl("-n", namespace, "delete", "deployment/web", "service/web", check=False)


def backend_pods(lab: Lab, namespace: str = BACKEND_NAMESPACE, app: str = "web") -> set[str]:
    """Names of the Pods labelled app=`app`."""
    out = kubectl(lab, "-n", namespace, "get", "pods", "-l", f"app={app}", "-o", "name")
    return {line.removeprefix("pod/") for line in out.split()}


def external_ip(lab: Lab, namespace: str = BACKEND_NAMESPACE, service: str = "web") -> str:
    """The LoadBalancer Service's first ingress IP, or "" before it has one."""
    return kubectl(
        lab, "-n", namespace, "get", "service", service,
        "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}",
    ).strip()  # fmt: skip


def uninstall(lab: Lab, route: Route = "manifests") -> None:
    """Everything `install` made removed, waiting until every object is gone.

    helm: `helm uninstall`, then what Helm leaves by design (docs/installation.md): the CRDs,
    and the namespace it did not create."""
    if route == "manifests":
        kubectl(lab, "delete", "-k", str(MANIFESTS), "--wait=true", "--timeout=180s")
        return
    helm(lab, "uninstall", RELEASE, "-n", INSTALL_NAMESPACE, "--wait", "--timeout=180s")
    kubectl(lab, "delete", "-f", str(CHART / "crds"), "--wait=true", "--timeout=180s")
    kubectl(lab, "delete", "-f", str(MANIFESTS / "namespace.yaml"), "--wait=true", "--timeout=180s")


def installed(lab: Lab) -> bool:
    """Whether lbspeaker's namespace exists (what either route's install creates first)."""
    return lab.kubectl("get", "namespace", INSTALL_NAMESPACE, check=False).returncode == 0


def leftovers(lab: Lab) -> list[str]:
    """Cluster objects of lbspeaker still there: its namespace, CRDs, RBAC, admission policy."""
    names = lab.kubectl(
        "get", f"namespace/{INSTALL_NAMESPACE}", "crd", "clusterrole", "clusterrolebinding",
        "validatingadmissionpolicy", "validatingadmissionpolicybinding", "-o", "name",
        check=False,
    ).stdout.split()  # fmt: skip
    return [name for name in names if "lbspeaker" in name]
