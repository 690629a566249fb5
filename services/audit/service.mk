# Targets of the audit service (included by the root Makefile).

.PHONY: bench-audit
bench-audit: daprd ## Audit throughput: raw COPY vs the bulk write path, end to end vs a no-op subscriber.
	go test -tags auditbench -run '^TestBenchAudit$$' -count=1 -v -timeout 30m ./services/audit/
