"""Kubernetes object names as they appear inside lbspeaker specs (references to pools, peers)."""

from typing import Annotated

from pydantic import StringConstraints

# k8s.io/apimachinery/pkg/util/validation: IsDNS1123Subdomain (most object names) and
# IsDNS1123Label (namespace names). Anchored with ^...$ because an OpenAPI pattern is a search.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

ResourceName = Annotated[str, StringConstraints(max_length=253, pattern=DNS1123_SUBDOMAIN)]
NamespaceName = Annotated[str, StringConstraints(max_length=63, pattern=DNS1123_LABEL)]
