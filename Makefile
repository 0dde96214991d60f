# ipamguard — see README.md. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

GO       ?= go
BIN      := $(CURDIR)/bin
GOTESTFLAGS ?=

# Pinned tool versions (the source of truth is each tool module's go.mod).
CONTROLLER_GEN := $(BIN)/controller-gen
KUBE_APISERVER := $(BIN)/kube-apiserver
ETCD           := $(BIN)/etcd
KUBECTL        := $(BIN)/kubectl
ENVTEST_MOD    := hack/tools/envtest
HELM           := $(BIN)/helm
HELM_MOD       := hack/tools/helm
CHART          := charts/ipamguard

export IPAMGUARD_ASSETS := $(BIN)

# The other projects' CRDs the manifests use (cert-manager's Certificate and
# Issuer, the Prometheus Operator's ServiceMonitor and PrometheusRule), read
# from their Go modules at these versions, checked against these go.sum
# hashes, and copied into $(CRDS) by crd-assets; never committed, never
# required by the main module. test/manifests installs them in the test API
# server and dry-runs the rendered trees against them.
CERT_MANAGER_MOD         := github.com/cert-manager/cert-manager@v1.21.2
CERT_MANAGER_SUM         := h1:UWgoYM+KLNtRlqmoWOKjKBOBUPVHeepQ6/ac3ERJW68=
CERT_MANAGER_CRDS        := deploy/crds/cert-manager.io_certificates.yaml deploy/crds/cert-manager.io_issuers.yaml deploy/crds/cert-manager.io_clusterissuers.yaml deploy/crds/cert-manager.io_certificaterequests.yaml
PROMETHEUS_OPERATOR_MOD  := github.com/prometheus-operator/prometheus-operator@v0.85.0
PROMETHEUS_OPERATOR_SUM  := h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s=
PROMETHEUS_OPERATOR_CRDS := example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml
CRDS                     := $(BIN)/crds
export IPAMGUARD_CRDS := $(CRDS)

# What the binaries report with --version and ipamguard_build_info
# (internal/version, stamped by the linker).
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
endif
ifndef COMMIT
COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
VERSION_PKG     := github.com/ipamguard/ipamguard/internal/version
VERSION_LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)

# How the image builds the webhook. The Dockerfile's builder stage is the
# source of truth and spells these out (it cannot read this file);
# test/image fails when the two differ. make image-check builds with them.
IMAGE_CGO_ENABLED := 0
IMAGE_GOFLAGS     := -trimpath -buildvcs=false
IMAGE_LDFLAGS     := -s -w $(VERSION_LDFLAGS)
IMAGE_PKG         := ./cmd/webhook

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Main

.PHONY: run
run: build envtest-assets ## Run the webhook on an embedded local control plane (Ctrl-C stops everything; PLANT=1 plants the doctor's problems).
	$(BIN)/ipamguard-dev --assets $(BIN) --webhook-binary $(BIN)/ipamguard-webhook --run-dir $(CURDIR)/.run $(if $(PLANT),--plant-problems)

.PHONY: test
test: verify chart-check envtest-assets crd-assets ## Run every test: unit, fuzz seeds, envtest against a real API server, e2e with kubectl.
	$(GO) test -race -count=1 $(GOTESTFLAGS) ./...
	@# The tests that bound the bytes a request allocates skip under -race
	@# (internal/racedetect): run them again without it.
	$(GO) test -count=1 $(GOTESTFLAGS) -run '^(TestHostileShapesCost|TestHostileManifests|TestHostileHandlers)$$' ./pkg/admit ./pkg/check ./test/bench

FUZZTIME ?= 30s
FUZZPKGS ?= ./...

.PHONY: fuzz
fuzz: ## Fuzz every Fuzz target (of FUZZPKGS, default all) for FUZZTIME each (default 30s), one at a time; stops at the first failure. Not part of test.
	@$(GO) list -f '{{.ImportPath}}{{range .TestGoFiles}} {{$$.Dir}}/{{.}}{{end}}{{range .XTestGoFiles}} {{$$.Dir}}/{{.}}{{end}}' $(FUZZPKGS) | \
	while read -r pkg files; do \
		[ -n "$$files" ] || continue; \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' $$files); do \
			echo "=== fuzz $$pkg $$fn for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg </dev/null; \
		done; \
	done

.PHONY: bench
bench: envtest-assets ## Measure: handler benchmarks vs a list-and-scan baseline, percentiles, HTTPS load test, memory, the doctor at 10k/100k and 10k/1M (issue 14), what reservations cost a pod creation (issue 15); writes docs/perf (summary.md, PNG plot) (~33 min).
	$(GO) run ./hack/bench

SOAK_DURATION ?= 4m
SOAK_RACE_SIZE ?= 1000
SOAK_RACE_RUNS ?= 20
SOAK_PODS ?= 100000

.PHONY: soak
soak: envtest-assets ## Long runs, not part of test (~30 min): the 3-replica race SOAK_RACE_RUNS times with SOAK_RACE_SIZE creates (and as often with a replica killed), faults under churn for SOAK_DURATION, startup memory at 10k subnets/100k IPs/110k pods, reservation cost.
	IPAMGUARD_RACE_SIZE=$(SOAK_RACE_SIZE) IPAMGUARD_RACE_RUNS=$(SOAK_RACE_RUNS) IPAMGUARD_RACE_KILL_RUNS=$(SOAK_RACE_RUNS) \
		$(GO) test -count=1 -timeout 60m -v -run '^TestRaceAcrossThreeWebhookProcesses$$' ./test/replicas
	IPAMGUARD_SOAK=1 IPAMGUARD_SOAK_DURATION=$(SOAK_DURATION) IPAMGUARD_SOAK_PODS=$(SOAK_PODS) \
		$(GO) test -count=1 -timeout 90m -v -p 1 -parallel 1 ./test/soak

##@ Development

.PHONY: build
build: ## Build the binaries into bin/ (webhook, dev environment, kubectl plugin kubectl-ipam).
	$(GO) build -ldflags '$(VERSION_LDFLAGS)' -o $(BIN)/ipamguard-webhook ./cmd/webhook
	$(GO) build -o $(BIN)/ipamguard-dev ./cmd/ipamguard-dev
	$(GO) build -ldflags '$(VERSION_LDFLAGS)' -o $(BIN)/kubectl-ipam ./cmd/kubectl-ipam

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and webhook configurations from markers.
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) webhook paths=./pkg/webhook/... output:webhook:artifacts:config=config/webhook
	$(GO) run ./hack/webhookgen config/webhook/manifests.yaml
	$(CONTROLLER_GEN) rbac:roleName=ipamguard paths="{./pkg/webhook/...,./internal/leader/...,./pkg/audit/...,./pkg/reserve/...}" output:rbac:artifacts:config=config/rbac
	@# The Helm chart reads the generated webhooks and rules from copies
	@# (charts/ipamguard/files): refreshed here, so verify catches drift.
	cp config/webhook/manifests.yaml $(CHART)/files/webhook-manifests.yaml
	cp config/rbac/role.yaml $(CHART)/files/role.yaml
	cp config/prometheus/rules.yaml $(CHART)/files/prometheus-rules.yaml
	cp config/prometheus/grafana-dashboard.json $(CHART)/files/grafana-dashboard.json

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	$(GO) vet ./...

.PHONY: verify
verify: generate manifests vet ## Regenerate and fail if generated files or formatting differ from what is committed.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if [ -n "$$(git status --porcelain -- pkg/apis config $(CHART)/files)" ]; then \
		echo "generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- pkg/apis config $(CHART)/files; git diff --stat -- pkg/apis config $(CHART)/files; exit 1; fi

##@ Deployment

.PHONY: chart-check
chart-check: $(HELM) ## Lint the Helm chart (strict) and render it with default and customised values (values.schema.json checked).
	$(HELM) lint --strict $(CHART)
	$(HELM) template ipamguard $(CHART) --namespace ipamguard-system >/dev/null
	$(HELM) template ipamguard $(CHART) --namespace ipamguard-system --values test/manifests/testdata/chart/custom-values.yaml >/dev/null
	$(HELM) lint --strict $(CHART) --values test/manifests/testdata/chart/self-managed-certs.yaml
	$(HELM) template ipamguard $(CHART) --namespace ipamguard-system --values test/manifests/testdata/chart/self-managed-certs.yaml >/dev/null

.PHONY: certs
certs: ## Write a CA and a serving certificate for the webhook Service into certs/ (git ignores the keys), for installs without cert-manager (certs/README.md); CERTS_FLAGS e.g. -namespace, -force.
	$(GO) run ./hack/certs -out certs $(CERTS_FLAGS)

IMG ?= ghcr.io/ipamguard/ipamguard-webhook:latest

.PHONY: deploy-render
deploy-render: $(KUBECTL) ## Render config/default with image IMG (the cluster needs Kube-OVN and cert-manager).
	@img='$(IMG)'; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\nimages:\n- name: ghcr.io/ipamguard/ipamguard-webhook\n  newName: %s\n  newTag: %s\n' \
	  "$$(realpath --relative-to="$$d" $(CURDIR)/config/default)" "$${img%:*}" "$${img##*:}" > "$$d/kustomization.yaml"; \
	$(KUBECTL) kustomize "$$d"

.PHONY: deploy
deploy: ## Apply the rendered tree to the current kubectl context.
	$(MAKE) -s deploy-render | $(KUBECTL) apply -f -

.PHONY: undeploy
undeploy: ## Delete what deploy applied.
	$(MAKE) -s deploy-render | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: docker-build
docker-build: ## Build the image IMG (needs Docker with BuildKit), stamped with VERSION and COMMIT.
	docker build --build-arg VERSION='$(VERSION)' --build-arg COMMIT='$(COMMIT)' -t $(IMG) .

.PHONY: image-check
image-check: ## Without a container engine: build the webhook as the Dockerfile does, check it is static and reports VERSION and COMMIT.
	CGO_ENABLED=$(IMAGE_CGO_ENABLED) GOOS=linux $(GO) build $(IMAGE_GOFLAGS) -ldflags '$(IMAGE_LDFLAGS)' -o $(BIN)/image/ipamguard-webhook $(IMAGE_PKG)
	$(GO) run ./hack/imagecheck --binary $(BIN)/image/ipamguard-webhook --name ipamguard-webhook --version '$(VERSION)' --commit '$(COMMIT)'

##@ Tools (pinned, built into bin/ from the Go module proxy)

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod
	cd hack/tools/controller-gen && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

$(HELM): $(HELM_MOD)/go.mod $(HELM_MOD)/go.sum
	cd $(HELM_MOD) && $(GO) build -o $@ helm.sh/helm/v4/cmd/helm

.PHONY: envtest-assets
envtest-assets: $(KUBE_APISERVER) $(ETCD) $(KUBECTL) ## Build kube-apiserver, etcd and kubectl (first time: several minutes).

$(KUBE_APISERVER): $(ENVTEST_MOD)/go.mod $(ENVTEST_MOD)/go.sum
	cd $(ENVTEST_MOD) && $(GO) build -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(KUBECTL): $(ENVTEST_MOD)/go.mod $(ENVTEST_MOD)/go.sum
	cd $(ENVTEST_MOD) && $(GO) build -o $@ k8s.io/kubernetes/cmd/kubectl

$(ETCD): $(ENVTEST_MOD)/go.mod $(ENVTEST_MOD)/go.sum
	cd $(ENVTEST_MOD) && $(GO) build -o $@ go.etcd.io/etcd/server/v3

.PHONY: crd-assets
crd-assets: $(CRDS)/.fetched ## Fetch cert-manager's and the Prometheus Operator's CRDs (pinned Go modules) into bin/crds.

# fetch_crds MODULE@VERSION, H1SUM, DEST, FILES: go mod download (outside
# the main module, so its go.mod and go.sum are untouched), check the hash,
# copy FILES out of the module.
define fetch_crds
	json=$$(cd / && $(GO) mod download -json '$(1)'); \
	dir=$$(printf '%s\n' "$$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$$/\1/p'); \
	sum=$$(printf '%s\n' "$$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$$/\1/p'); \
	if [ "$$sum" != '$(2)' ]; then echo "$(1): module hash $$sum, want $(2)" >&2; exit 1; fi; \
	mkdir -p '$(3)'; \
	for f in $(4); do install -m 0644 "$$dir/$$f" '$(3)/'; done
endef

$(CRDS)/.fetched: Makefile
	rm -rf $(CRDS)
	$(call fetch_crds,$(CERT_MANAGER_MOD),$(CERT_MANAGER_SUM),$(CRDS)/cert-manager,$(CERT_MANAGER_CRDS))
	$(call fetch_crds,$(PROMETHEUS_OPERATOR_MOD),$(PROMETHEUS_OPERATOR_SUM),$(CRDS)/prometheus-operator,$(PROMETHEUS_OPERATOR_CRDS))
	printf '%s\n' '$(CERT_MANAGER_MOD)' '$(PROMETHEUS_OPERATOR_MOD)' > $@

.PHONY: clean
clean: ## Remove built binaries (keeps the Go build cache).
	rm -rf $(BIN) .run
