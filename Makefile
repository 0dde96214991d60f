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

export IPAMGUARD_ASSETS := $(BIN)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Main

.PHONY: run
run: build envtest-assets ## Run the webhook on an embedded local control plane (Ctrl-C stops everything; PLANT=1 plants the doctor's problems).
	$(BIN)/ipamguard-dev --assets $(BIN) --webhook-binary $(BIN)/ipamguard-webhook --run-dir $(CURDIR)/.run $(if $(PLANT),--plant-problems)

.PHONY: test
test: verify envtest-assets ## Run every test: unit, fuzz seeds, envtest against a real API server, e2e with kubectl.
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
bench: ## Measure: handler benchmarks vs a list-and-scan baseline, percentiles, HTTPS load test, memory; writes docs/perf (summary.md, PNG plot) (~23 min).
	$(GO) run ./hack/bench

##@ Development

.PHONY: build
build: ## Build the binaries into bin/ (webhook, dev environment, kubectl plugin kubectl-ipam).
	$(GO) build -o $(BIN)/ipamguard-webhook ./cmd/webhook
	$(GO) build -o $(BIN)/ipamguard-dev ./cmd/ipamguard-dev
	$(GO) build -o $(BIN)/kubectl-ipam ./cmd/kubectl-ipam

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and webhook configurations from markers.
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) webhook paths=./pkg/webhook/... output:webhook:artifacts:config=config/webhook
	$(GO) run ./hack/webhookgen config/webhook/manifests.yaml
	$(CONTROLLER_GEN) rbac:roleName=ipamguard paths="{./pkg/webhook/...,./internal/leader/...,./pkg/audit/...}" output:rbac:artifacts:config=config/rbac

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	$(GO) vet ./...

.PHONY: verify
verify: generate manifests vet ## Regenerate and fail if generated files or formatting differ from what is committed.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if [ -n "$$(git status --porcelain -- pkg/apis config)" ]; then \
		echo "generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- pkg/apis config; git diff --stat -- pkg/apis config; exit 1; fi

##@ Deployment

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
docker-build: ## Build the image IMG (needs Docker with BuildKit).
	docker build -t $(IMG) .

##@ Tools (pinned, built into bin/ from the Go module proxy)

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod
	cd hack/tools/controller-gen && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: envtest-assets
envtest-assets: $(KUBE_APISERVER) $(ETCD) $(KUBECTL) ## Build kube-apiserver, etcd and kubectl (first time: several minutes).

$(KUBE_APISERVER): $(ENVTEST_MOD)/go.mod $(ENVTEST_MOD)/go.sum
	cd $(ENVTEST_MOD) && $(GO) build -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(KUBECTL): $(ENVTEST_MOD)/go.mod $(ENVTEST_MOD)/go.sum
	cd $(ENVTEST_MOD) && $(GO) build -o $@ k8s.io/kubernetes/cmd/kubectl

$(ETCD): $(ENVTEST_MOD)/go.mod $(ENVTEST_MOD)/go.sum
	cd $(ENVTEST_MOD) && $(GO) build -o $@ go.etcd.io/etcd/server/v3

.PHONY: clean
clean: ## Remove built binaries (keeps the Go build cache).
	rm -rf $(BIN) .run
