## ---- recurring-task ------------------------------------------------------

.PHONY: bench-recurring gen-recurring-cases
bench-recurring: ## Recurrence engine benchmark (Next, weekly BYDAY rule, 1 year into a series).
	go test -run '^$$' -bench . -benchmem ./services/recurring-task/internal/recurrence/

gen-recurring-cases: ## Regenerate the recurrence golden cases with Debian's python3-dateutil.
	cd services/recurring-task/internal/recurrence/testdata && /usr/bin/python3 gen_cases.py > cases.json
