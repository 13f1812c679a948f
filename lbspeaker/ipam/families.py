"""IP families as Kubernetes names them, and the address type the core works with."""

from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import TypeAlias

IPAddress: TypeAlias = IPv4Address | IPv6Address


class IPFamily(StrEnum):
    """An address family, spelled as in a Service's spec.ipFamilies."""

    IPV4 = "IPv4"
    IPV6 = "IPv6"

    @property
    def other(self) -> "IPFamily":
        """The opposite family (the secondary of a dual-stack Service)."""
        return IPFamily.IPV6 if self is IPFamily.IPV4 else IPFamily.IPV4


class IPFamilyPolicy(StrEnum):
    """How many families a Service wants, as in spec.ipFamilyPolicy."""

    SINGLE_STACK = "SingleStack"
    PREFER_DUAL_STACK = "PreferDualStack"
    REQUIRE_DUAL_STACK = "RequireDualStack"


def family_of(ip: IPAddress) -> IPFamily:
    """The family of one address."""
    return IPFamily.IPV4 if ip.version == 4 else IPFamily.IPV6


def address_from_int(family: IPFamily, value: int) -> IPAddress:
    """The address of `family` whose integer value is `value`."""
    return IPv4Address(value) if family is IPFamily.IPV4 else IPv6Address(value)
