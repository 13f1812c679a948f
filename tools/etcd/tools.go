//go:build tools

// Package tools records the command the lab builds so `go mod tidy` keeps its dependencies.
package tools

import _ "go.etcd.io/etcd/server/v3"
