"""`lbspeaker` command line: controller, speaker, lab and demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lbspeaker import __version__


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"lbspeaker {__version__}")
    return 0


def _cmd_controller(args: argparse.Namespace) -> int:
    from lbspeaker import controller

    options = controller.ControllerOptions(
        namespace=args.namespace, claim_unset_class=not args.only_own_class
    )
    return controller.run(options, args.kubeconfig, args.metrics_port, args.lease_seconds)


def _cmd_speaker(args: argparse.Namespace) -> int:
    import os

    from lbspeaker import preflight, speaker
    from lbspeaker.election.timing import ElectionTiming

    node = args.node_name or os.environ.get("NODE_NAME")
    if not node:
        print("lbspeaker speaker: --node-name or $NODE_NAME is required", file=sys.stderr)
        return 2
    problem = preflight.speaker_problem()
    if problem:
        return preflight.hold_unready(problem, args.metrics_port)
    timing = ElectionTiming(
        lease_duration_seconds=args.lease_seconds,
        renew_interval=args.renew_interval,
        self_fence_margin=args.fence_margin,
        expiry_margin=args.fence_margin,
        admission_margin=min(0.1, args.fence_margin / 2),
    )
    options = speaker.SpeakerOptions(
        node=node,
        namespace=args.namespace,
        claim_unset_class=not args.only_own_class,
        timing=timing,
        heartbeat_port=args.heartbeat_port,
        runtime_dir=Path(args.runtime_dir),
    )
    return speaker.run(options, args.kubeconfig, args.metrics_port)


def _cmd_status(args: argparse.Namespace) -> int:
    import json

    from kubernetes.client import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    from lbspeaker import status
    from lbspeaker.k8s.client import load_client

    try:
        print(status.render(load_client(args.kubeconfig), args.namespace))
    except ConfigException as error:
        print(f"lbspeaker status: no usable kubeconfig: {error}", file=sys.stderr)
        return 1
    except ApiException as error:
        # The apiserver's own message names the resource and the missing right.
        try:
            detail = json.loads(error.body or "{}").get("message") or error.reason
        except ValueError:
            detail = error.reason
        print(f"lbspeaker status: the apiserver answered {error.status}: {detail}", file=sys.stderr)
        return 1
    except (HTTPError, OSError) as error:
        print(f"lbspeaker status: cannot reach the apiserver: {error}", file=sys.stderr)
        return 1
    return 0


def _lab_missing(command: str) -> int:
    print(
        f"lbspeaker {command}: the lab is not part of this installation (the container image "
        "leaves it out); run it from a source checkout (`make demo`)",
        file=sys.stderr,
    )
    return 2


def _cmd_lab(args: argparse.Namespace) -> int:
    try:
        from lbspeaker.lab import cli as lab_cli
    except ModuleNotFoundError:
        return _lab_missing("lab")
    return lab_cli.run(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from lbspeaker.lab import demo, demo_real
    except ModuleNotFoundError:
        return _lab_missing("demo")
    return demo_real.run(args) if args.kubelets else demo.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbspeaker", description="Bare-metal LoadBalancer provider for Kubernetes."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("version", help="print the version").set_defaults(handler=_cmd_version)

    controller = commands.add_parser("controller", help="assign IPs to LoadBalancer Services")
    controller.add_argument("--kubeconfig", help="default: in-cluster, else ~/.kube/config")
    controller.add_argument("--namespace", default="lbspeaker-system", help="where pools live")
    controller.add_argument(
        "--only-own-class",
        action="store_true",
        help="ignore Services without spec.loadBalancerClass (default: handle them too)",
    )
    controller.add_argument("--metrics-port", type=int, default=7472, help="0 disables")
    controller.add_argument(
        "--lease-seconds",
        type=int,
        default=15,
        help="leader-election lease duration; 0 runs without leader election",
    )
    controller.set_defaults(handler=_cmd_controller)

    speaker = commands.add_parser("speaker", help="announce Service IPs from this node")
    speaker.add_argument("--node-name", help="this node's name (default: $NODE_NAME)")
    speaker.add_argument("--kubeconfig", help="default: in-cluster, else ~/.kube/config")
    speaker.add_argument("--namespace", default="lbspeaker-system")
    speaker.add_argument("--only-own-class", action="store_true")
    speaker.add_argument("--metrics-port", type=int, default=7473, help="0 disables")
    speaker.add_argument(
        "--lease-seconds", type=int, default=3, help="this node's Lease duration (whole seconds)"
    )
    speaker.add_argument("--renew-interval", type=float, default=1.0)
    speaker.add_argument(
        "--fence-margin",
        type=float,
        default=0.5,
        help="stop announcing this long before peers may consider our Lease expired",
    )
    speaker.add_argument(
        "--heartbeat-port",
        type=int,
        default=7474,
        help="UDP port for heartbeats between speakers (key: Secret lbspeaker-heartbeat); "
        "0 turns them off",
    )
    speaker.add_argument(
        "--runtime-dir",
        default="/run/lbspeaker",
        help="where the speaker keeps ExaBGP's configuration and API socket",
    )
    speaker.set_defaults(handler=_cmd_speaker)

    status = commands.add_parser("status", help="pools, Services, their IPs and announcers")
    status.add_argument("--kubeconfig", help="default: in-cluster, else ~/.kube/config")
    status.add_argument("--namespace", default="lbspeaker-system", help="where pools live")
    status.set_defaults(handler=_cmd_status)

    lab = commands.add_parser("lab", help="local control plane and namespace network")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    up = lab_commands.add_parser("up", help="start a lab (reuses a running one of that name)")
    up.add_argument("--name", default="lab")
    up.add_argument("--nodes", type=int, default=3, help="number of node namespaces")
    up.add_argument(
        "--kubelets",
        action="store_true",
        help="real nodes: containerd, kubelet and kube-proxy per node, the image imported "
        "(docs/real-nodes.md)",
    )
    down = lab_commands.add_parser("down", help="remove a lab; harmless if it is gone")
    down.add_argument("--name", default="lab")
    down.add_argument("--all", action="store_true", help="remove every lab on this machine")
    status = lab_commands.add_parser("status", help="show labs and the health of their parts")
    status.add_argument("--name", default=None)
    lab.set_defaults(handler=_cmd_lab)

    demo = commands.add_parser("demo", help="bring up the lab and show lbspeaker at work")
    demo.add_argument("--name", default="demo")
    demo.add_argument(
        "--kubelets",
        action="store_true",
        help="on real nodes: kubectl apply -k manifests/ with the built image (docs/real-nodes.md)",
    )
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
