## ---- websocket service ---------------------------------------------------

WS_BENCH_FLAGS ?= -users 1000 -per-user 10 -rates 100,500,1000 -duration 10s

.PHONY: bench-ws
bench-ws: ## WebSocket fan-out benchmark: 10k connections, latency p50/p99, frames/s, memory per connection.
	go build -o $(BIN)/websocket-service ./services/websocket
	go run ./services/websocket/bench -bin $(BIN)/websocket-service $(WS_BENCH_FLAGS)
