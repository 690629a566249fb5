// Command notification delivers due-date reminders from the `reminders` topic in-app,
// by signed webhook and by e-mail, once per channel. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
)

// version is stamped by the Dockerfile with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notification:", err)
		os.Exit(1)
	}
}
