package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestPublishRefusesBadArgumentsWithoutAStack: a mistake on the command line is reported as
// such, not hidden behind the stack that is not running.
func TestPublishRefusesBadArgumentsWithoutAStack(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "stack.json")
	for _, tc := range []struct {
		name      string
		what      string
		flags     []string
		wantUsage bool
		want      string
	}{
		{"unknown kind of event", "bogus", nil, true, `publish "bogus": want task, reminder or update`},
		{"unknown task event kind", "task", []string{"--kind", "finished"}, false,
			`--kind "finished": want created, updated, completed, reopened or deleted`},
		{"due not RFC 3339", "reminder", []string{"--due", "tomorrow"}, false, `--due: parsing time "tomorrow"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"publish", tc.what, "--stack", missing}, tc.flags...)
			stdout, stderr, err := runCLI(args...)
			cmdline := strings.Join(args, " ")
			if err == nil {
				t.Fatalf("taskflow %s = nil error, stdout %q; want it refused", cmdline, stdout)
			}
			if errors.Is(err, errUsage) != tc.wantUsage {
				t.Errorf("taskflow %s = %v, want a usage error: %v", cmdline, err, tc.wantUsage)
			}
			if msg := err.Error() + "\n" + stderr; !strings.Contains(msg, tc.want) || strings.Contains(msg, missing) {
				t.Errorf("taskflow %s = %v (stderr %q), want it to say %q and not ask for a stack", cmdline, err, stderr, tc.want)
			}
		})
	}
}
