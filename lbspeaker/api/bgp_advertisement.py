"""BGPAdvertisement: which pools are announced over BGP, to which peers, with which attributes."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StringConstraints

from lbspeaker.api.base import APIModel, CELRule
from lbspeaker.api.names import ResourceName
from lbspeaker.api.selectors import LabelSelector

# RFC 1997 standard community `ASN:value` (two 16-bit numbers) or RFC 8092 large community
# `global:local1:local2` (three 32-bit numbers). The pattern fixes the shape; the CEL rule the
# ranges, which a regular expression can only express clumsily.
COMMUNITY_PATTERN = (
    r"^(0|[1-9][0-9]{0,4}):(0|[1-9][0-9]{0,4})$"
    r"|^(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,9})$"
)
# The apiserver evaluates CEL even when the pattern failed; the guard keeps a malformed value
# to the pattern's message instead of adding a CEL type-conversion error.
_COMMUNITY_RANGE = CELRule(
    f"!self.matches(r'{COMMUNITY_PATTERN}')"
    " || self.split(':').all(n, int(n) <= (self.split(':').size() == 2 ? 65535 : 4294967295))",
    "standard community parts must be at most 65535 (e.g. 65535:65282), large community"
    " parts at most 4294967295",
)


def parse_community(text: str) -> tuple[int, ...]:
    """The numbers of a standard (2) or large (3) community; raise ValueError if malformed."""
    if re.fullmatch(COMMUNITY_PATTERN, text) is None:
        raise ValueError(f"{text!r}: not a community like 65535:65282 or 64512:1:2")
    numbers = tuple(int(part) for part in text.split(":"))
    limit = 0xFFFF if len(numbers) == 2 else 0xFFFFFFFF
    if any(number > limit for number in numbers):
        raise ValueError(f"{text!r}: {_COMMUNITY_RANGE.message}")
    return numbers


def _check_community(text: str) -> str:
    parse_community(text)
    return text


Community = Annotated[
    str,
    StringConstraints(max_length=32, pattern=COMMUNITY_PATTERN),
    AfterValidator(_check_community),
    _COMMUNITY_RANGE,
]


class BGPAdvertisementSpec(APIModel):
    """Announce addresses from some pools to BGP peers; an empty spec announces every pool to
    every peer, one /32 or /128 route per Service address."""

    ip_address_pools: tuple[ResourceName, ...] = Field(default_factory=tuple, max_length=256)
    """Names of the pools to announce; with `ipAddressPoolSelectors` empty too, all pools."""
    ip_address_pool_selectors: tuple[LabelSelector, ...] = Field(
        default_factory=tuple, max_length=32
    )
    """Pools whose labels match one of these selectors are announced as well."""
    aggregation_length: StrictInt = Field(default=32, ge=0, le=32)
    """Prefix length of the route announced for an IPv4 Service address: 32 announces each
    address; shorter aggregates them (it must not be shorter than the pool's own prefix)."""
    aggregation_length_v6: StrictInt = Field(default=128, ge=0, le=128)
    """Prefix length of the route announced for an IPv6 Service address."""
    local_pref: StrictInt | None = Field(default=None, ge=0, le=4294967295)
    """LOCAL_PREF attribute (RFC 4271 §5.1.5), sent to iBGP peers only."""
    communities: tuple[Community, ...] = Field(default_factory=tuple, max_length=64)
    """Communities attached to the routes: standard `65535:65282` or large `64512:1:2`."""
    peers: tuple[ResourceName, ...] = Field(default_factory=tuple, max_length=256)
    """Names of the BGPPeers to announce to; empty means all."""
    node_selectors: tuple[LabelSelector, ...] = Field(default_factory=tuple, max_length=32)
    """Only nodes matching one of these selectors announce; empty means all."""
