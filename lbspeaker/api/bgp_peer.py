"""BGPPeer: a BGP session the speakers open to a router, and its state on each node."""

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from lbspeaker.api.addresses import IPString, IPv4String, parse_ip
from lbspeaker.api.base import APIModel, CELRule, cel_rules
from lbspeaker.api.conditions import Conditions
from lbspeaker.api.names import ResourceName
from lbspeaker.api.selectors import LabelSelector

# RFC 6793: four-octet AS numbers; RFC 7607: AS 0 is reserved and must not be used in a session.
ASN = Annotated[StrictInt, Field(ge=1, le=4294967295)]

# BGP timers are whole seconds on the wire (RFC 4271 §4.2), so only h/m/s parts are accepted:
# a subset of Go's duration syntax, which the apiserver's CEL `duration()` parses.
_DURATION = re.compile(r"([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?")
_DURATION_PATTERN = f"^{_DURATION.pattern}$"
_DURATION_TEXT = StringConstraints(min_length=2, max_length=18, pattern=_DURATION_PATTERN)
_MAX_TIMER = 65535  # the Hold Time field is 16 bits (RFC 4271 §4.2)


def duration_seconds(text: str) -> int:
    """Seconds in a timer such as `90s` or `1m30s`; raise ValueError if malformed."""
    match = _DURATION.fullmatch(text)
    if match is None or not text:
        raise ValueError(f"{text!r}: not a duration like 90s or 1m30s")
    hours, minutes, seconds = (int(part[:-1]) if part else 0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


# RFC 4271 §4.2: the Hold Time MUST be either zero or at least three seconds.
# The apiserver evaluates CEL even when the pattern failed; the `matches` guards keep a
# malformed value to the pattern's message instead of adding a CEL conversion error.
_HOLD_TIME_RANGE = CELRule(
    f"!self.matches(r'{_DURATION_PATTERN}') || duration(self) == duration('0s')"
    " || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))",
    "holdTime must be 0s (no keepalives) or between 3s and 65535s",
)
_TIMER_RANGE = CELRule(
    f"!self.matches(r'{_DURATION_PATTERN}')"
    " || (duration(self) >= duration('1s') && duration(self) <= duration('65535s'))",
    "must be between 1s and 65535s",
)


def _check_hold_time(text: str) -> str:
    seconds = duration_seconds(text)
    if seconds != 0 and not 3 <= seconds <= _MAX_TIMER:
        raise ValueError(_HOLD_TIME_RANGE.message)
    return text


def _check_timer(text: str) -> str:
    if not 1 <= duration_seconds(text) <= _MAX_TIMER:
        raise ValueError(_TIMER_RANGE.message)
    return text


HoldTime = Annotated[str, _DURATION_TEXT, AfterValidator(_check_hold_time), _HOLD_TIME_RANGE]
Timer = Annotated[str, _DURATION_TEXT, AfterValidator(_check_timer), _TIMER_RANGE]


class PasswordSecretRef(APIModel):
    """A key of a Secret in the peer's namespace."""

    name: ResourceName
    """Name of the Secret."""
    key: Annotated[str, StringConstraints(max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")] = (
        "password"
    )
    """Key in the Secret's data holding the password."""


_ONE_PASSWORD_SOURCE = CELRule(
    "!(has(self.password) && has(self.passwordSecret))",
    "password and passwordSecret are mutually exclusive",
)
_SOURCE_FAMILY = CELRule(
    "!has(self.sourceAddress) || !isIP(self.sourceAddress) || !isIP(self.peerAddress)"
    " || ip(self.sourceAddress).family() == ip(self.peerAddress).family()",
    "sourceAddress must be of the same IP family as peerAddress",
)
# RFC 4271 §10 suggests a keepalive of a third of the hold time; past it the session flaps.
_KEEPALIVE_BELOW_HOLD = CELRule(
    "!has(self.holdTime) || !has(self.keepaliveTime)"
    f" || !self.holdTime.matches(r'{_DURATION_PATTERN}')"
    f" || !self.keepaliveTime.matches(r'{_DURATION_PATTERN}')"
    " || duration(self.holdTime) == duration('0s')"
    " || duration(self.keepaliveTime) < duration(self.holdTime)",
    "keepaliveTime must be shorter than holdTime",
)


class BGPPeerSpec(APIModel):
    """A BGP session each selected node's speaker opens to a router."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(_ONE_PASSWORD_SOURCE, _SOURCE_FAMILY, _KEEPALIVE_BELOW_HOLD)
    )

    my_asn: ASN = Field(validation_alias="myASN", serialization_alias="myASN")
    """The speakers' autonomous system number."""
    peer_asn: ASN = Field(validation_alias="peerASN", serialization_alias="peerASN")
    """The router's autonomous system number; equal to myASN for iBGP."""
    peer_address: IPString
    """The router's IPv4 or IPv6 address."""
    peer_port: StrictInt = Field(default=179, ge=1, le=65535)
    """The router's TCP port."""
    source_address: IPString | None = None
    """The local address to open the session from, of the same family as peerAddress;
    absent means the kernel chooses."""
    hold_time: HoldTime | None = None
    """Hold time proposed in OPEN, e.g. 90s; 0s disables keepalives. Absent means the
    speaker's default."""
    keepalive_time: Timer | None = None
    """Interval between KEEPALIVEs, shorter than holdTime. Absent means the speaker's
    default."""
    connect_time: Timer | None = None
    """Wait between connection attempts (ConnectRetryTime). Absent means the speaker's default."""
    router_id: IPv4String | None = Field(
        default=None, validation_alias="routerID", serialization_alias="routerID"
    )
    """BGP identifier (an IPv4 address); absent means the speaker's choice."""
    ebgp_multi_hop: StrictBool = False
    """Allow an eBGP peer that is more than one hop away (TTL 255 instead of 1)."""
    passive: StrictBool = False
    """Wait for the router to connect instead of connecting to it."""
    password: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    """TCP MD5 signature password (RFC 2385), in clear; prefer passwordSecret. At most 80
    bytes, the Linux TCP_MD5SIG_MAXKEYLEN."""
    password_secret: PasswordSecretRef | None = None
    """The TCP MD5 password, from a Secret; mutually exclusive with password."""
    node_selectors: tuple[LabelSelector, ...] = Field(default_factory=tuple, max_length=32)
    """Only nodes matching one of these selectors open the session; empty means all."""

    @model_validator(mode="after")
    def _consistent(self) -> "BGPPeerSpec":
        if self.password is not None and self.password_secret is not None:
            raise ValueError(_ONE_PASSWORD_SOURCE.message)
        source = self.source_address
        if source is not None and parse_ip(source).version != parse_ip(self.peer_address).version:
            raise ValueError(_SOURCE_FAMILY.message)
        hold, keepalive = self.hold_time, self.keepalive_time
        if hold is not None and keepalive is not None:
            hold_seconds = duration_seconds(hold)
            if hold_seconds != 0 and duration_seconds(keepalive) >= hold_seconds:
                raise ValueError(_KEEPALIVE_BELOW_HOLD.message)
        return self


# RFC 4271 §8.2.2: the states of the BGP finite state machine.
BGPSessionState = Literal["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"]


class BGPPeerNodeStatus(APIModel):
    """The session as one node's speaker sees it."""

    node: ResourceName
    """The node's name."""
    state: BGPSessionState
    """The BGP finite-state-machine state (RFC 4271 §8.2.2)."""
    since: datetime | None = None
    """When the session entered this state."""
    message: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Why the session is not Established, e.g. the last NOTIFICATION received."""


class BGPPeerStatus(APIModel):
    """The session's state on every node that should hold it."""

    nodes: tuple[BGPPeerNodeStatus, ...] = Field(
        default_factory=tuple,
        max_length=5000,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["node"]},
    )
    """One entry per selected node."""
    established_count: StrictInt | None = Field(default=None, ge=0)
    """How many nodes have the session Established."""
    observed_generation: StrictInt | None = Field(default=None, ge=0)
    """The `.metadata.generation` this status describes."""
    conditions: Conditions = Field(default_factory=tuple)
    """Conditions of the peer as a whole."""
