"""BGP mode: every eligible node announces Service IPs to routers through ExaBGP.

Pure core: `selection` (which routes this node announces to which peer), `config` (ExaBGP's
configuration text), `api_commands` (process-API commands and messages). Shell: `exabgp`
(the supervised ExaBGP child and its API pipe), `bridge` (the API relay ExaBGP runs),
`runner` (the `BGPMode` the speaker drives), `status` (BGPPeer status per node), `inputs`
(Kubernetes objects to core values), `watches` (the three extra watches the speaker adds).
`lbspeaker speaker` drives `BGPMode` beside layer 2.
"""
