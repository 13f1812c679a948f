"""Layer-2 announcement: answering ARP and NDP for the IPs this node owns.

- `frames`, `arp_frames`, `ndp_frames`: pure frame parse/build and the answer to a request.
- `bpf`: the kernel filters; `packet_socket`, `multicast`: the Linux socket plumbing.
- `schedule`, `ratelimit`: pure timing rules (announcement plan, per-requester token bucket).
- `responder`: the loop; `arp.ARPResponder`, `ndp.NDPResponder`: what a speaker runs.
- `interfaces`: the pure rule for which interfaces to answer on.

Import from the modules (`from lbspeaker.announce.arp import ARPResponder`): importing the
pure modules stays free of the socket and metrics machinery.
"""
