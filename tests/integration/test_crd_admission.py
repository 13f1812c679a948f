"""The generated CRDs admit exactly what the pydantic models accept, on the real apiserver."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from lbspeaker.api.kinds import API_VERSION, GROUP, IP_ADDRESS_POOL, VERSION
from lbspeaker.lab.lab import Lab
from tests.conftest import INSTALL_NAMESPACE
from tests.unit.test_api_admission import ADMISSION_CASES, AdmissionCase

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("case", ADMISSION_CASES, ids=lambda c: f"{c.kind.kind}: {c.name}")
def test_apiserver_admits_exactly_the_table(crds: Lab, case: AdmissionCase) -> None:
    body: dict[str, object] = {
        "apiVersion": API_VERSION,
        "kind": case.kind.kind,
        "metadata": {"name": "admission-case"},
    }
    if case.spec is not None:
        body["spec"] = case.spec
    api = client.CustomObjectsApi(crds.api_client())
    try:
        api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            INSTALL_NAMESPACE,
            case.kind.plural,
            body,
            dry_run="All",
            field_validation="Strict",
        )
        admitted, detail = True, ""
    except client.ApiException as error:
        # 422: schema or CEL rule; 400: strict decoding (an unknown field).
        assert error.status in (400, 422), error.body
        admitted, detail = False, error.body
    assert admitted == case.admitted, detail


def _pool_body(name: str, addresses: list[str]) -> dict[str, object]:
    return {
        "apiVersion": API_VERSION,
        "kind": IP_ADDRESS_POOL.kind,
        "metadata": {"name": name, "namespace": INSTALL_NAMESPACE},
        "spec": {"addresses": addresses},
    }


@pytest.mark.parametrize(
    ("entry", "fix"),
    [
        ("192.0.2.20-192.0.2.10", "192.0.2.10-192.0.2.20"),
        ("2001:db8::1:0-2001:db8::ffff", "2001:db8::ffff-2001:db8::1:0"),
    ],
)
def test_kubectl_apply_refuses_a_reversed_range_naming_the_field_and_the_fix(
    crds: Lab, tmp_path: Path, entry: str, fix: str
) -> None:
    manifest = tmp_path / "pool.yaml"
    manifest.write_text(yaml.safe_dump(_pool_body("reversed", ["192.0.2.0/28", entry])))
    result = crds.kubectl("apply", "--dry-run=server", "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert "spec.addresses[1]: Invalid value: " in result.stderr
    assert f"range {entry} is reversed: its first address comes after its last; write {fix}" in (
        result.stderr
    )


def _random_range(rng: random.Random, bits: int) -> tuple[int, int]:
    """Two different addresses sharing a random number of leading bits, lower first."""
    first = rng.getrandbits(bits)
    shared = rng.randrange(bits)
    flipped = first ^ (1 << (bits - 1 - shared))
    tail_mask = (1 << (bits - 1 - shared)) - 1
    second = (flipped & ~tail_mask) | (rng.getrandbits(bits) & tail_mask)
    return min(first, second), max(first, second)


def _text(rng: random.Random, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.version == 4:
        return str(address)
    # The apiserver must normalise what users write: compressed, full, upper case.
    return rng.choice([str(address), address.exploded, str(address).upper()])


def test_range_order_matches_address_order_for_many_random_ranges(crds: Lab) -> None:
    """Pairs differing at every bit position, both families, written in several forms: the
    apiserver admits each in order and refuses each reversed, naming every entry."""
    rng = random.Random(20261130)
    ranges: list[tuple[str, str]] = []
    for bits, make in ((32, ipaddress.IPv4Address), (128, ipaddress.IPv6Address)):
        for _ in range(150):
            low, high = _random_range(rng, bits)
            first, last = make(low), make(high)
            if any(isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped for a in (first, last)):
                continue  # refused as IPv4-mapped, a different rule
            ranges.append((_text(rng, first), _text(rng, last)))
    api = client.CustomObjectsApi(crds.api_client())

    def create(name: str, addresses: list[str]) -> str:
        try:
            api.create_namespaced_custom_object(
                GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural,
                _pool_body(name, addresses), dry_run="All",
            )  # fmt: skip
        except client.ApiException as error:
            assert error.status == 422, error.body
            return str(error.body)
        return ""

    assert create("in-order", [f"{low}-{high}" for low, high in ranges]) == ""
    refused = create("reversed", [f"{high}-{low}" for low, high in ranges])
    causes = json.loads(refused)["details"]["causes"]
    assert sorted(c["field"] for c in causes) == sorted(
        f"spec.addresses[{i}]" for i in range(len(ranges))
    )
    assert all("is reversed" in c["message"] for c in causes)


def test_a_full_pool_of_the_longest_ipv6_ranges_fits_the_runtime_cel_budget(crds: Lab) -> None:
    """1,000 entries (maxItems) of 79-character IPv6 ranges: the range rules' cost, summed over
    the object, stays within the apiserver's per-request CEL budget."""
    base = int(ipaddress.IPv6Address("2001:db8:ffff:ffff:ffff:ffff::"))
    addresses = [
        f"{ipaddress.IPv6Address(base + 7 * i).exploded}-"
        f"{ipaddress.IPv6Address(base + 7 * i + 1).exploded}"
        for i in range(1000)
    ]
    assert max(len(a) for a in addresses) == 79
    client.CustomObjectsApi(crds.api_client()).create_namespaced_custom_object(
        GROUP, VERSION, INSTALL_NAMESPACE, IP_ADDRESS_POOL.plural,
        _pool_body("full", addresses), dry_run="All",
    )  # fmt: skip
