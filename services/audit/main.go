// Command audit is the TaskFlow audit service: it appends every task event, reminder and
// task update to a tamper-evident, append-only log in PostgreSQL and answers queries over
// gRPC (taskflow.audit.v1.AuditService). See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time (-ldflags "-X main.version=...", see the Dockerfile).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := run
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		cmd = runMigrate
	}
	err := cmd(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(1)
	}
}
