//go:build tools

// Package tools records the helm command that tools/build-helm.sh builds, so `go mod tidy`
// keeps its dependencies.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
