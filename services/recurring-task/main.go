// Command recurring-task creates the next occurrence of every completed recurring task.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // IANA zones even in images without /usr/share/zoneinfo
)

// version is stamped by the Dockerfile with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "recurring-task:", err)
		os.Exit(1)
	}
}
