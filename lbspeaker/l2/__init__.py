"""Layer-2 mode: which Service IPs are announced, on which nodes and interfaces (pure), and
the speaker loop that turns election decisions into ARP/NDP answers (shell)."""
