"""IP address and CIDR parsing exactly as strict as the apiserver's CEL `ip()` and `cidr()`.

Python's `ipaddress` is more lenient than Kubernetes in three ways that matter here: it accepts
IPv6 zones (`fe80::1%eth0`), netmask suffixes (`192.0.2.0/255.255.255.0`) and leading zeros in
the prefix length (`/024`). The Kubernetes CEL library (k8s.io/apiserver/pkg/cel/library, ip.go
and cidr.go) parses with Go's `netip` and additionally rejects zones and IPv4-mapped IPv6
addresses (`::ffff:192.0.2.1`). These functions reject the same strings, so a spec accepted by
the models is accepted by the CRD and the other way round.
"""

import ipaddress
import re
from typing import Annotated, TypeAlias

from pydantic import AfterValidator, StringConstraints

from lbspeaker.api.base import CELRule

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface: TypeAlias = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# Go's netip.ParsePrefix: decimal bits without sign or leading zeros.
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]{0,2}")


def parse_ip(text: str) -> IPAddress:
    """Parse an IPv4 or IPv6 address as CEL `ip()` does; raise ValueError otherwise."""
    if "%" in text:
        raise ValueError(f"{text!r}: IPv6 zones are not allowed")
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f"{text!r}: IPv4-mapped IPv6 addresses are not allowed")
    return address


def parse_cidr(text: str) -> IPInterface:
    """Parse `address/length` as CEL `cidr()` does, keeping any host bits (see `has_host_bits`)."""
    address_text, slash, length_text = text.partition("/")
    if not slash or _PREFIX_LENGTH.fullmatch(length_text) is None:
        raise ValueError(f"{text!r}: not an address/prefix-length CIDR")
    address = parse_ip(address_text)
    if int(length_text) > address.max_prefixlen:
        raise ValueError(f"{text!r}: prefix length exceeds {address.max_prefixlen}")
    return ipaddress.ip_interface((address, int(length_text)))


def has_host_bits(cidr: IPInterface) -> bool:
    """Whether bits after the prefix are set (`192.0.2.1/24`): CEL `cidr(s) != cidr(s).masked()`."""
    return cidr.ip != cidr.network.network_address


def _check_ip(text: str) -> str:
    parse_ip(text)
    return text


def _check_ipv4(text: str) -> str:
    if parse_ip(text).version != 4:
        raise ValueError(f"{text!r}: must be an IPv4 address")
    return text


# 45 characters is the longest IPv6 text form (with an embedded IPv4 tail).
IPString = Annotated[
    str,
    StringConstraints(max_length=45),
    AfterValidator(_check_ip),
    CELRule("isIP(self)", "must be an IPv4 or IPv6 address (no zone, not IPv4-mapped)"),
]
IPv4String = Annotated[
    str,
    StringConstraints(max_length=15),
    AfterValidator(_check_ipv4),
    CELRule("isIP(self) && ip(self).family() == 4", "must be an IPv4 address"),
]
