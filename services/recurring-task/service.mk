## ---- recurring-task ------------------------------------------------------

.PHONY: bench-recurring gen-recurring-cases
bench-recurring: ## Recurrence engine benchmark (Next on weekly, daily, yearly and sub-daily rules; table in the README).
	go test -run '^$$' -bench . -benchmem -count 5 ./services/recurring-task/internal/recurrence/

gen-recurring-cases: ## Regenerate the recurrence golden cases and the random corpus with Debian's python3-dateutil (~1 min).
	cd services/recurring-task/internal/recurrence/testdata && /usr/bin/python3 gen_cases.py > cases.json && /usr/bin/python3 gen_random.py > random_cases.json
