"""The LB + Ingress scheme on the real-node lab (docs/usage.md): one LoadBalancer Service on 80
and 443 in front of a reverse proxy (HAProxy) that routes by host name to two sites.

docs/examples/lb-ingress/ as written: backends.yaml (the sites `shop` and `blog`), then
proxy.yaml (the proxy, its configuration and the Service), with a self-signed certificate for
both host names in the Secret proxy.yaml mounts; TLS ends at the proxy. Needs lbspeaker
installed and a pool (real_install). Shared by the real-node test and `lbspeaker demo
--kubelets`.
"""

from __future__ import annotations

from pathlib import Path

from lbspeaker.lab.certs import create_self_signed
from lbspeaker.lab.lab import Lab, LabError, wait_for
from lbspeaker.lab.real_install import REPO, ROLLOUT_TIMEOUT, kubectl
from lbspeaker.lab.real_nodes import built_by, real_nodes

EXAMPLE = REPO / "docs" / "examples" / "lb-ingress"
NAMESPACE = "sites"
SERVICE = "proxy"
TLS_SECRET = "sites-tls"
# The Deployments of backends.yaml; proxy.yaml routes host `<site>.example` to each.
SITES = ("shop", "blog")


def host(site: str) -> str:
    return f"{site}.example"  # RFC 2606: reserved, never a real site


def load_proxy_image(lab: Lab) -> None:
    """The proxy image (tools/build-proxy-image.sh) imported into every node's containerd."""
    archive = built_by("build-proxy-image.sh")
    for node in real_nodes(lab.topology, lab.directory):
        node.runtime.import_image(archive)


def deploy(lab: Lab) -> Path:
    """The sites, the TLS Secret and the proxy, each rolled out; the certificate the client
    trusts (self-signed, so it is its own CA)."""
    load_proxy_image(lab)
    kubectl(lab, "apply", "-f", str(EXAMPLE / "backends.yaml"))
    for site in SITES:
        _rolled_out(lab, site)
    cert, key = create_self_signed(lab.directory / TLS_SECRET, [host(s) for s in SITES])
    secret = kubectl(
        lab, "-n", NAMESPACE, "create", "secret", "tls", TLS_SECRET,
        f"--cert={cert}", f"--key={key}", "--dry-run=client", "-o", "yaml",
    )  # fmt: skip
    kubectl(lab, "apply", "-f", "-", stdin=secret)
    kubectl(lab, "apply", "-f", str(EXAMPLE / "proxy.yaml"))
    _rolled_out(lab, SERVICE)
    return cert


def _rolled_out(lab: Lab, deployment: str) -> None:
    kubectl(
        lab, "-n", NAMESPACE, "rollout", "status", f"deployment/{deployment}",
        f"--timeout={ROLLOUT_TIMEOUT}",
    )  # fmt: skip


def curl_argv(vip: str, site: str, scheme: str, cafile: Path) -> list[str]:
    """What a user types: the site's host name resolved to the VIP (so the Host header and,
    over TLS, the SNI and the certificate check all use the name), through the one VIP."""
    port = 443 if scheme == "https" else 80
    argv = ["curl", "-sS", "--max-time", "5", "--resolve", f"{host(site)}:{port}:{vip}"]
    if scheme == "https":
        argv += ["--cacert", str(cafile)]
    return [*argv, f"{scheme}://{host(site)}/"]


def fetch(lab: Lab, vip: str, site: str, scheme: str, cafile: Path) -> tuple[int, str]:
    """GET / of a site from the client namespace: (HTTP status, body), or LabError with curl's
    reason when nothing answered."""
    argv = [*curl_argv(vip, site, scheme, cafile), "--write-out", "\n%{http_code}"]
    done = lab.exec_in(lab.client, argv, check=False)
    if done.returncode != 0:
        raise LabError(f"curl {scheme}://{host(site)}/ via {vip}: {done.stderr.strip()}")
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body.strip()


def first_answer(lab: Lab, vip: str, site: str, scheme: str, cafile: Path) -> tuple[int, str]:
    """`fetch`, retried until something answers: the first request after the Service got its
    address waits for ARP and for kube-proxy's rules on the node."""

    def answered() -> tuple[int, str] | None:
        try:
            return fetch(lab, vip, site, scheme, cafile)
        except LabError:
            return None

    return wait_for(answered, timeout=60, interval=1)


def remove(lab: Lab) -> None:
    """The namespace with everything in it, waiting until it is gone."""
    lab.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--timeout=180s")
