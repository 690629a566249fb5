## ---- notification service ----------------------------------------------

.PHONY: bench-notification
bench-notification: deps ## Reminders/s through daprd: no-op subscriber vs notification (in-app only, all three channels).
	go test -count=1 -run '^$$' -bench BenchmarkEndToEnd -benchtime=1x -timeout 20m ./services/notification/

.PHONY: bench-email-rtt
bench-email-rtt: ## E-mail through one SMTP session to a relay 2 ms away: pipelined vs one command per round trip.
	go test -count=1 -run '^$$' -bench BenchmarkTransactionRTT -benchtime=200x ./services/notification/internal/email/
