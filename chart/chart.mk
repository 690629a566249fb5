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

# The engine `make images` builds with: docker, else podman (CONTAINER_ENGINE=podman to choose).
CONTAINER_ENGINE ?= $(shell command -v docker >/dev/null 2>&1 && echo docker || { command -v podman >/dev/null 2>&1 && echo podman; })
# What each image documents with EXPOSE (services/Dockerfile's PORTS): daprd's app port and
# metrics everywhere, and the WebSocket/HTTP port on websocket. The chart's containerPorts decide
# what a pod really opens; these are for `docker run -P` and readers of the image.
IMAGE_PORTS           := 50001 9090
IMAGE_PORTS_websocket := 50001 9090 8080

# image_build is the command that builds the image of service $(1) from the one template.
define image_build
echo "$(CONTAINER_ENGINE) build $(1) -> $(IMAGE_REGISTRY)/taskflow-events/$(1):$(IMAGE_TAG)"; \
DOCKER_BUILDKIT=1 $(CONTAINER_ENGINE) build -f services/Dockerfile --build-arg SERVICE=$(1) \
	--build-arg VERSION=$(IMAGE_TAG) --build-arg PORTS="$(or $(IMAGE_PORTS_$(1)),$(IMAGE_PORTS))" \
	-t $(IMAGE_REGISTRY)/taskflow-events/$(1):$(IMAGE_TAG) . ;
endef

images: ## Build the four service images from services/Dockerfile with docker or podman, tagged IMAGE_REGISTRY/taskflow-events/<name>:IMAGE_TAG.
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "images: neither 'docker' nor 'podman' is on PATH: cannot build images (install one, or set CONTAINER_ENGINE)" >&2; exit 1; \
	fi
	@if ! command -v $(CONTAINER_ENGINE) >/dev/null 2>&1; then \
		echo "images: CONTAINER_ENGINE=$(CONTAINER_ENGINE) is not on PATH: cannot build images" >&2; exit 1; \
	fi
	@if ! $(CONTAINER_ENGINE) info >/dev/null 2>&1; then \
		echo "images: '$(CONTAINER_ENGINE)' is installed but no engine answers ($(CONTAINER_ENGINE) info failed): cannot build images" >&2; exit 1; \
	fi
	@set -e; $(foreach s,$(SERVICES),$(call image_build,$(s)))
