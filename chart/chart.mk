# Chart and image targets (included by the root Makefile: -include chart/chart.mk).

CHART_DIR          := chart
CHART_KUBE_VERSION ?= 1.31.0
IMAGE_REGISTRY     ?= ghcr.io/taskflow
IMAGE_TAG          ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
SERVICES           := audit notification recurring-task websocket

# The cluster `chart-test` applies every render to (server-side dry-run, Dapr CRDs, restricted
# Pod Security): built from module source by scripts/build-kube.sh into .cache/kube/<version>
# and linked into .cache/bin. Helm renders for CHART_KUBE_VERSION; the server is a current release.
KUBE_VERSION := v1.34.0
ETCD_VERSION := v3.6.5

.PHONY: chart-test chart-lint images kube
# Always asks the script: it returns at once when the binaries already are these versions.
kube: ## Build etcd, kube-apiserver and kubectl (pinned) from module source (about 11 minutes the first time).
	KUBE_VERSION=$(KUBE_VERSION) ETCD_VERSION=$(ETCD_VERSION) bash scripts/build-kube.sh $(BIN)

chart-test: $(BIN)/helm $(BIN)/daprd kube ## Helm chart: lint --strict, renders, strict decoding, assertions, bad values, server-side dry-run on a real kube-apiserver.
	go test -count=1 ./chart/...

chart-lint: $(BIN)/helm ## helm lint --strict and helm template of the chart (quick look, no assertions).
	helm lint --strict $(CHART_DIR) --kube-version $(CHART_KUBE_VERSION) -f $(CHART_DIR)/examples/minimal-values.yaml
	helm lint --strict $(CHART_DIR) --kube-version $(CHART_KUBE_VERSION) -f $(CHART_DIR)/examples/production-values.yaml
	helm template taskflow-events $(CHART_DIR) --kube-version $(CHART_KUBE_VERSION) -f $(CHART_DIR)/examples/minimal-values.yaml >/dev/null

images: ## Build the four service images with docker (needs a running Docker engine).
	@if ! command -v docker >/dev/null 2>&1; then \
		echo "images: no 'docker' command on this machine: cannot build images (install Docker with BuildKit, then re-run)" >&2; exit 1; \
	fi
	@if ! docker info >/dev/null 2>&1; then \
		echo "images: 'docker' is installed but no Docker engine answers (docker info failed): cannot build images" >&2; exit 1; \
	fi
	@set -e; for s in $(SERVICES); do \
		echo "docker build $$s -> $(IMAGE_REGISTRY)/taskflow-events/$$s:$(IMAGE_TAG)"; \
		DOCKER_BUILDKIT=1 docker build -f services/$$s/Dockerfile \
			--build-arg VERSION=$(IMAGE_TAG) \
			-t $(IMAGE_REGISTRY)/taskflow-events/$$s:$(IMAGE_TAG) . ; \
	done
