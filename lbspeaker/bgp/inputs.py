"""Kubernetes objects in, BGP core values out (shell-side translation)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lbspeaker import api
from lbspeaker.api.bgp_advertisement import parse_community
from lbspeaker.api.bgp_peer import duration_seconds
from lbspeaker.bgp.config import Session
from lbspeaker.bgp.selection import Advertisement, Peer
from lbspeaker.k8s import translate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParsedPeer:
    """A BGPPeer's spec, or why it cannot be used; `ignored` lists fields ExaBGP cannot honour."""

    name: str
    spec: api.BGPPeerSpec | None
    problem: str = ""
    ignored: tuple[str, ...] = ()


def _validation_message(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())


def parse_peer(obj: Mapping[str, Any]) -> ParsedPeer:
    name = str(obj["metadata"]["name"])
    try:
        spec = api.BGPPeerSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        return ParsedPeer(name, None, _validation_message(error))
    ignored = tuple(
        field
        for field, value in (
            ("keepaliveTime", spec.keepalive_time),
            ("connectTime", spec.connect_time),
        )
        if value is not None
    )
    return ParsedPeer(name, spec, ignored=ignored)


def peer_value(name: str, spec: api.BGPPeerSpec) -> Peer:
    return Peer(
        name=name,
        address=ipaddress.ip_address(spec.peer_address),
        my_asn=spec.my_asn,
        peer_asn=spec.peer_asn,
        node_selectors=tuple(translate.label_selector(s) for s in spec.node_selectors),
    )


def advertisement_from(obj: Mapping[str, Any]) -> Advertisement | str:
    """The advertisement, or the reason it is unusable."""
    name = str(obj["metadata"]["name"])
    try:
        spec = api.BGPAdvertisementSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        return _validation_message(error)
    communities = [parse_community(c) for c in spec.communities]
    return Advertisement(
        name=name,
        pools=frozenset(spec.ip_address_pools),
        pool_selectors=tuple(translate.label_selector(s) for s in spec.ip_address_pool_selectors),
        aggregation_length=spec.aggregation_length,
        aggregation_length_v6=spec.aggregation_length_v6,
        local_pref=spec.local_pref,
        communities=frozenset((c[0], c[1]) for c in communities if len(c) == 2),
        large_communities=frozenset((c[0], c[1], c[2]) for c in communities if len(c) == 3),
        peers=frozenset(spec.peers),
        node_selectors=tuple(translate.label_selector(s) for s in spec.node_selectors),
    )


def secret_value(secrets: Iterable[Any], name: str, key: str) -> bytes | str:
    """The decoded Secret value, or the reason it is missing (never the value in a message)."""
    for secret in secrets:
        if secret.metadata.name != name:
            continue
        encoded = (secret.data or {}).get(key)
        if encoded is None:
            return f"Secret {name} has no key {key}"
        try:
            value = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            return f"Secret {name} key {key} is not valid base64"
        if not 1 <= len(value) <= 80:
            return f"Secret {name} key {key} must hold 1 to 80 bytes (TCP_MD5SIG_MAXKEYLEN)"
        return value
    return f"Secret {name} not found"


def session_from(
    name: str,
    spec: api.BGPPeerSpec,
    secrets: Iterable[Any],
    router_id: ipaddress.IPv4Address,
    local_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
) -> Session | str:
    """ExaBGP's view of a peer, or the reason it cannot be configured."""
    password: bytes | None = spec.password.encode() if spec.password is not None else None
    if spec.password_secret is not None:
        found = secret_value(secrets, spec.password_secret.name, spec.password_secret.key)
        if isinstance(found, str):
            return found
        password = found
    source = ipaddress.ip_address(spec.source_address) if spec.source_address else None
    return Session(
        peer=name,
        peer_address=ipaddress.ip_address(spec.peer_address),
        my_asn=spec.my_asn,
        peer_asn=spec.peer_asn,
        router_id=ipaddress.IPv4Address(spec.router_id) if spec.router_id else router_id,
        peer_port=spec.peer_port,
        local_address=source or local_address,
        hold_time=duration_seconds(spec.hold_time) if spec.hold_time is not None else None,
        ebgp_multi_hop=spec.ebgp_multi_hop,
        passive=spec.passive,
        md5_password=password,
    )
