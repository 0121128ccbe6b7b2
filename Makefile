# scim-operator Makefile (kubebuilder layout).
#
#   make demo    run the whole product locally: control plane, operator, a tenant and a token (no cluster)
#   make test    what CI runs: format, vet, generated-code and every test, unit and envtest

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= ghcr.io/scim-operator/scim-operator:latest
KUBERNETES_VERSION ?= 1.36.3
CONTROLLER_TOOLS_VERSION ?= v0.21.0
KUSTOMIZE_VERSION ?= v5.8.0
GO_TEST_FLAGS ?= -timeout 25m

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
KUBECTL ?= kubectl
# DEMO_PORT is the local ingress port of make demo (localrun --ingress-address 127.0.0.1:$(DEMO_PORT)).
DEMO_PORT ?= 8480
# DEMO_MIRROR_PORT is where make demo runs the example webhook consumer (localrun --mirror-address).
DEMO_MIRROR_PORT ?= 8490
# DEMO_POSTGRES_URL, when set, adds config/samples/postgres: a tenant with two
# server replicas on that database (e.g. eval "$$(hack/postgres/test-server.sh start)"
# and make demo DEMO_POSTGRES_URL="$$SCIM_TEST_POSTGRES_URL").
DEMO_POSTGRES_URL ?=

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers in api/ and controllers/.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(MAKE) -s chart-sync

# The Helm chart's copies of what config/ holds (test/chart fails when they differ).
CHART := charts/scim-operator

.PHONY: chart-sync
chart-sync: ## Copy the CRDs, the RBAC roles, the alerts and the dashboard from config/ into the Helm chart.
	rm -f $(CHART)/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART)/crds/
	cp config/rbac/role.yaml $(CHART)/files/manager-role.yaml
	rm -rf $(CHART)/files/rbac-common && mkdir -p $(CHART)/files/rbac-common
	cp config/rbac/common/*_role.yaml $(CHART)/files/rbac-common/
	cp config/prometheus/prometheus_rule.yaml config/prometheus/pod_monitor.yaml $(CHART)/files/
	cp config/grafana/scim-operator.json $(CHART)/files/

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Format the Go code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: controller-gen ## Fail when code is unformatted or generated files are stale.
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; echo "run: make fmt"; exit 1; fi
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh
	hack/verify-no-large-files.sh

.PHONY: test
test: verify vet envtest peer-test ## Run every test (unit, envtest, end to end) against a real control plane.
	KUBEBUILDER_ASSETS="$$(hack/envtest/build.sh)" go test $(GO_TEST_FLAGS) ./...

.PHONY: envtest
envtest: ## Build the envtest control plane (kube-apiserver, etcd) from source into bin/k8s, once.
	@if [ -n "$$KUBEBUILDER_ASSETS" ]; then echo "using KUBEBUILDER_ASSETS=$$KUBEBUILDER_ASSETS"; else KUBERNETES_VERSION=$(KUBERNETES_VERSION) hack/envtest/build.sh >/dev/null; fi

.PHONY: bench
bench: ## Run the benchmarks (numbers go into docs/benchmarks.md).
	go test -run '^$$' -bench . -benchmem ./scimserver/...

# hack/scimpeer is a module of its own (the operator's go.mod never carries
# its library), so go vet ./... and go test ./... of the root do not reach it.
.PHONY: peer-test
peer-test: ## Vet and test hack/scimpeer, the in-memory peer of issue #13 (a few seconds).
	cd hack/scimpeer && go vet ./... && go test ./...

PEER_USERS ?= 2000
.PHONY: compare-peer
compare-peer: ## CPU per request of the six baseline request kinds: ours, a canned server and the in-memory peer (PEER_USERS=2000, or 100000; numbers go into docs/benchmarks.md).
	uptime
	go run ./cmd/scimload --spawn --baseline --peer --concurrency 16 --users $(PEER_USERS)

##@ Build

.PHONY: build
build: ## Build the manager, the SCIM server and the kubectl scim plugin into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/scimserver ./cmd/scimserver
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/kubectl-scim ./cmd/kubectl-scim

.PHONY: run
run: manifests generate ## Run the manager against the cluster of the current kubeconfig.
	go run ./cmd/manager

# demo checks the port first (a busy port fails in a second, not after the
# builds), then builds localrun and warms the build cache for the SCIM server
# (which the local runtime builds at start) while the control plane builds:
# on a first run the three builds overlap instead of running one after the other.
.PHONY: demo
demo: ## Run everything locally: control plane, operator, local runtime, sample tenant and token (DEMO_PORT=8480, DEMO_MIRROR_PORT=8490; DEMO_POSTGRES_URL=postgres://... adds a two-replica PostgreSQL tenant).
	@for v in DEMO_PORT=$(DEMO_PORT) DEMO_MIRROR_PORT=$(DEMO_MIRROR_PORT); do \
		if (exec 3<>/dev/tcp/127.0.0.1/$${v#*=}) 2>/dev/null; then \
		echo "make demo: 127.0.0.1:$${v#*=} is already in use (another make demo?): stop it, or run make demo $${v%%=*}=$$(( $${v#*=} + 100 ))" >&2; exit 1; fi; done
	@mkdir -p $(LOCALBIN)
	@start=$$(date +%s); \
	( go build -o $(LOCALBIN)/localrun ./cmd/localrun && go build -o /dev/null ./cmd/scimserver ) & builds=$$!; \
	if [ -n "$$KUBEBUILDER_ASSETS" ]; then assets=$$KUBEBUILDER_ASSETS; \
	else assets=$$(KUBERNETES_VERSION=$(KUBERNETES_VERSION) hack/envtest/build.sh) || { kill $$builds 2>/dev/null; exit 1; }; fi; \
	wait $$builds; \
	echo "make demo: builds done in $$(( $$(date +%s) - start ))s"; \
	KUBEBUILDER_ASSETS="$$assets" DEMO_POSTGRES_URL="$(DEMO_POSTGRES_URL)" exec $(LOCALBIN)/localrun --samples config/samples \
		--ingress-address 127.0.0.1:$(DEMO_PORT) --mirror-address 127.0.0.1:$(DEMO_MIRROR_PORT)

.PHONY: kubectl
kubectl: ## Build kubectl at the control plane's version into bin/kubectl (make demo's kubectl; no skew warning).
	@mkdir -p $(LOCALBIN)
	@KUBERNETES_VERSION=$(KUBERNETES_VERSION) hack/envtest/build.sh kubectl $(LOCALBIN)/kubectl

.PHONY: docker-build
docker-build: ## Build the image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: kustomize ## Remove the CRDs (and every ScimTenant and ScimToken) from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator with image $(IMG).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@
