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

# Each replica answers GET / with its Pod's name, so the client sees which Pod answered.
BACKEND = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {BACKEND_NAMESPACE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {BACKEND_NAMESPACE}}}
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
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {BACKEND_NAMESPACE}}}
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


def deploy_backend(lab: Lab) -> None:
    _kubectl(lab, "apply", "-f", "-", stdin=BACKEND)
    _kubectl(
        lab, "-n", BACKEND_NAMESPACE, "rollout", "status", "deployment/web",
        f"--timeout={ROLLOUT_TIMEOUT}",
    )  # fmt: skip


def backend_pods(lab: Lab) -> set[str]:
    out = _kubectl(lab, "-n", BACKEND_NAMESPACE, "get", "pods", "-l", "app=web", "-o", "name")
    return {line.removeprefix("pod/") for line in out.split()}


def external_ip(lab: Lab) -> str:
    return _kubectl(
        lab, "-n", BACKEND_NAMESPACE, "get", "service", "web",
        "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}",
    ).strip()  # fmt: skip


def uninstall(lab: Lab) -> None:
    """`kubectl delete -k manifests/`, waiting until every object is gone."""
    _kubectl(lab, "delete", "-k", str(MANIFESTS), "--wait=true", "--timeout=180s")
