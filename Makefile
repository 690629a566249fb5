# TaskFlow Events — every developer and CI command goes through this file.
# Tools are installed at pinned versions into .cache/bin (git-ignored) by the targets below.

SHELL := /bin/bash
export PATH := $(CURDIR)/.cache/bin:$(PATH)
BIN := $(CURDIR)/.cache/bin

BUF_VERSION           := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
GRPCURL_VERSION       := v1.9.4
HELM_VERSION          := v3.22.0
MAILPIT_VERSION       := v1.33.1
CENTRIFUGO_VERSION    := v6.9.1
GOLANGCI_LINT_VERSION := v2.15.0
# The default runtime: the newest daprd that builds here from module source with nothing left
# out (v1.18.3 builds only without its Pulsar component: README "Supported Dapr"). The oldest
# and newest supported minors are checked with `make test-compat DAPR_VERSION=v1.16.5` and
# `make test-compat DAPR_VERSION=v1.18.3`.
DAPR_VERSION          ?= v1.17.5

GO_TEST_FLAGS ?= -count=1 -timeout 40m
PKGS          ?= ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## ---- tools -------------------------------------------------------------

$(BIN)/buf:
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(BIN)/grpcurl:
	GOBIN=$(BIN) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
$(BIN)/helm:
	GOBIN=$(BIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
$(BIN)/mailpit:
	GOBIN=$(BIN) go install github.com/axllent/mailpit@$(MAILPIT_VERSION)
$(BIN)/golangci-lint:
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
$(BIN)/centrifugo:
	GOBIN=$(BIN) go install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION)
# Always asks the script: it returns at once when .cache/bin/daprd already is DAPR_VERSION.
$(BIN)/daprd: FORCE
	DAPR_VERSION=$(DAPR_VERSION) bash scripts/build-daprd.sh $(BIN)/daprd
.PHONY: FORCE
FORCE:

.PHONY: tools daprd debs deps
tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/grpcurl $(BIN)/helm $(BIN)/mailpit $(BIN)/golangci-lint ## Install the pinned Go tools into .cache/bin.
daprd: $(BIN)/daprd ## Build daprd (pinned DAPR_VERSION) from its module source (a few minutes the first time).

.PHONY: daprd-profiling
daprd-profiling: ## daprd with block and mutex sampling, for profiling runs: TASKFLOW_DAPRD=.cache/bin/daprd-profiling make bench BENCH_FLAGS=--profile
	DAPRD_PROFILING=1 DAPR_VERSION=$(DAPR_VERSION) bash scripts/build-daprd.sh $(BIN)/daprd-profiling
debs: ## Install the Debian packages the tests need (PostgreSQL 15 server, Chromium) when missing.
	@bash scripts/ensure-debs.sh
deps: tools daprd debs kube ## Everything the tests need (kube: chart/chart.mk).

## ---- code ---------------------------------------------------------------

.PHONY: generate check-generate lint lint-go fmt vet
generate: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc ## Regenerate gen/ from proto/.
	buf generate

check-generate: generate ## Fail when gen/ is not what proto/ generates.
	@git add -N gen >/dev/null 2>&1 || true
	@if ! git diff --quiet -- gen; then echo "gen/ is stale: run 'make generate' and commit"; git diff --stat -- gen; exit 1; fi

# What `buf breaking` compares proto/ with: the main branch (on main itself that is HEAD, so the
# check bites on uncommitted changes, branches and pull requests). A checkout without that
# branch (a detached CI checkout, a source tarball) skips the check and says so.
BUF_BRANCH ?= main

lint: $(BIN)/buf $(BIN)/golangci-lint ## buf lint, buf breaking against main, gofmt, go vet and golangci-lint.
	buf lint
	@if git rev-parse --verify -q "refs/heads/$(BUF_BRANCH)" >/dev/null 2>&1; then \
		echo "buf breaking --against '.git#branch=$(BUF_BRANCH)'"; buf breaking --against '.git#branch=$(BUF_BRANCH)'; \
	else echo "buf breaking: no local branch $(BUF_BRANCH) in this checkout, skipped"; fi
	@out=$$(gofmt -l cmd internal services chart); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	golangci-lint run ./...

# golangci-lint alone (also part of make lint). .golangci.yml says why each disabled linter is off.
lint-go: $(BIN)/golangci-lint ## golangci-lint with .golangci.yml only.
	golangci-lint run ./...

fmt: ## gofmt every Go file.
	gofmt -w cmd internal services chart

## ---- local stack ---------------------------------------------------------

.PHONY: run demo
run: deps ## Run the whole system locally on embedded defaults until Ctrl-C (DATABASE_URL optional).
	go run ./cmd/taskflow up $(RUN_FLAGS)

demo: deps ## Start the system, play the TaskFlow scenario, check every effect.
	go run ./cmd/taskflow demo $(RUN_FLAGS)

## ---- tests --------------------------------------------------------------

.PHONY: test test-unit
test: deps lint check-generate ## Everything CI runs: lint, generated-code drift, unit and end-to-end tests with real daprd, broker, PostgreSQL, SMTP.
	go test $(GO_TEST_FLAGS) $(PKGS)
	@$(MAKE) --no-print-directory test-extra

# The end-to-end and fault tests against another daprd, built into .cache/daprd/<version>;
# .cache/bin/daprd (the default runtime) is left alone. TASKFLOW_DAPRD tells testenv which to run.
COMPAT_DAPRD = $(CURDIR)/.cache/daprd/$(DAPR_VERSION)/daprd
.PHONY: test-compat
test-compat: tools debs ## End-to-end + fault tests against another daprd, e.g. make test-compat DAPR_VERSION=v1.16.5
	DAPR_VERSION=$(DAPR_VERSION) bash scripts/build-daprd.sh $(COMPAT_DAPRD)
	TASKFLOW_DAPRD=$(COMPAT_DAPRD) go test $(GO_TEST_FLAGS) $(PKGS)

# -short: every helper that starts or needs an external program (testenv's PostgreSQL, mailpit,
# daprd, Bin and StartProcess; helm, kube-apiserver and Chromium in the tests) skips, so this
# passes on a machine with only Go.
test-unit: ## Only the tests that need no external process (passes with only Go installed).
	go test -count=1 -short ./...

# Service issues add their own targets to test-extra (chart tests and the like).
.PHONY: test-extra
test-extra:

.PHONY: bench-runtime
bench-runtime: ## Decode+dispatch benchmark of the callback runtime.
	go test -run '^$$' -bench . -benchmem ./internal/daprsub/

-include services/*/service.mk
-include chart/chart.mk
-include internal/faulttest/faults.mk
