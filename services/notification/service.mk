## ---- notification service ----------------------------------------------

.PHONY: bench-notification
bench-notification: deps ## Reminders/s through daprd: no-op subscriber vs notification (in-app only, all three channels).
	go test -count=1 -run '^$$' -bench BenchmarkEndToEnd -benchtime=1x -timeout 20m ./services/notification/
