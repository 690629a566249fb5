// Command taskflow runs the local stack and pokes it: `taskflow up` (make run), `taskflow
// demo` (make demo), and publish / watch / audit / next against a running stack.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskflow:", err)
		os.Exit(1)
	}
}
