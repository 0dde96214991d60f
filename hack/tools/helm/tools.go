//go:build tools

// Package helm pins the helm command, built into bin/ by the Makefile and
// used by make chart-check and test/manifests to lint and render
// charts/ipamguard. It is its own module so that helm and its dependencies
// never enter the main module's go.mod.
package helm

import _ "helm.sh/helm/v4/cmd/helm"
