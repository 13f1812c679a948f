"""lbspeaker installed the way a user installs it, on the real-node lab: `kubectl apply -k`.

Shared by the real-node tests and tools/measure-real-nodes.py: the manifests as written, an
example pool, and a backend Deployment (the lbspeaker image's own Python serving its Pod's
name) behind a LoadBalancer Service.
"""

from __future__ import annotations

from pathlib import Path

from lbspeaker.lab.lab import Lab, LabError

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
INSTALL_NAMESPACE = "lbspeaker-system"
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


def _kubectl(lab: Lab, *args: str, stdin: str | None = None) -> str:
    done = lab.kubectl(*args, check=False, stdin=stdin)
    if done.returncode != 0:
        raise LabError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def install(lab: Lab) -> None:
    """`kubectl apply -k manifests/`, then both workloads rolled out through their probes."""
    _kubectl(lab, "apply", "-k", str(MANIFESTS))
    wait_rolled_out(lab)


def wait_rolled_out(lab: Lab) -> None:
    for workload in ("deployment/lbspeaker-controller", "daemonset/lbspeaker-speaker"):
        _kubectl(
            lab, "-n", INSTALL_NAMESPACE, "rollout", "status", workload,
            f"--timeout={ROLLOUT_TIMEOUT}",
        )  # fmt: skip


def apply_example(lab: Lab, name: str) -> None:
    """One of manifests/examples/ (l2.yaml, bgp.yaml), as written."""
    _kubectl(lab, "apply", "-f", str(MANIFESTS / "examples" / name))


def deploy_backend(lab: Lab, namespace: str = BACKEND_NAMESPACE, service: bool = True) -> None:
    """The backend Deployment, rolled out, and (unless `service` is False, when an example's
    Service is used instead) its LoadBalancer Service `web`."""
    if service:
        _kubectl(lab, "apply", "-f", "-", stdin=BACKEND_SERVICE.format(namespace=namespace))
    _kubectl(lab, "apply", "-f", "-", stdin=BACKEND_DEPLOYMENT.format(namespace=namespace))
    _kubectl(
        lab, "-n", namespace, "rollout", "status", "deployment/web",
        f"--timeout={ROLLOUT_TIMEOUT}",
    )  # fmt: skip


def remove_backend(lab: Lab, namespace: str) -> None:
    lab.kubectl("-n", namespace, "delete", "deployment/web", "service/web", check=False)


def backend_pods(lab: Lab, namespace: str = BACKEND_NAMESPACE) -> set[str]:
    out = _kubectl(lab, "-n", namespace, "get", "pods", "-l", "app=web", "-o", "name")
    return {line.removeprefix("pod/") for line in out.split()}


def external_ip(lab: Lab, namespace: str = BACKEND_NAMESPACE) -> str:
    return _kubectl(
        lab, "-n", namespace, "get", "service", "web",
        "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}",
    ).strip()  # fmt: skip


def uninstall(lab: Lab) -> None:
    """`kubectl delete -k manifests/`, waiting until every object is gone."""
    _kubectl(lab, "delete", "-k", str(MANIFESTS), "--wait=true", "--timeout=180s")
