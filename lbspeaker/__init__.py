"""lbspeaker: a bare-metal LoadBalancer provider for Kubernetes."""

__version__ = "0.1.0"
