# Reliability tests (issue 9): included from the root Makefile with
#   -include internal/faulttest/faults.mk
# Fault tests run in `make test` too (go test ./...); these targets run them alone, and the
# load tool's benchmark and soak run.

DURATION ?= 10m
RATE     ?= 100

.PHONY: test-faults bench soak
test-faults: deps ## Fault tests: kill -9 a service or sidecar, restart PostgreSQL, poison flood, SIGTERM under load.
	go test -count=1 -timeout 15m -v -run TestFaults ./internal/faulttest/

bench: deps ## Load tool: throughput and publish→effect latency per service vs a no-op subscriber (results/bench.md, results/latency.png).
	go run ./cmd/taskflow load --out results $(BENCH_FLAGS)

soak: deps ## Soak at a fixed rate (DURATION=10m RATE=100): RSS, goroutines and effects must stay accounted for.
	go run ./cmd/taskflow load --soak --duration $(DURATION) --rate $(RATE) --out results $(SOAK_FLAGS)
