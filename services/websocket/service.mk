## ---- websocket service ---------------------------------------------------

WS_BENCH_FLAGS ?= -users 1000 -per-user 10 -rates 100,500,1000,2000 -e2e-rates 100,1000 -duration 10s

.PHONY: bench-ws
bench-ws: $(BIN)/centrifugo $(BIN)/daprd ## WebSocket fan-out benchmark vs Centrifugo, and end to end through daprd + Kafka: 10k connections, p50/p99, frames/s, memory per connection.
	go build -o $(BIN)/websocket-service ./services/websocket
	go run ./services/websocket/bench -bin $(BIN)/websocket-service -centrifugo $(BIN)/centrifugo -daprd $(BIN)/daprd $(WS_BENCH_FLAGS)
