"""The generated CRDs admit exactly what the pydantic models accept, on the real apiserver."""

from __future__ import annotations

import pytest
from kubernetes import client

from lbspeaker.api.kinds import API_VERSION, GROUP, VERSION
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
