"""Local lab: a real control plane and a namespace-based L2 network for tests, bench and demo."""
