package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// dlqOverview prints every known dead-letter topic, and any other *-dlq topic on the
// broker, with its entry count.
func dlqOverview(ctx context.Context, cl *kgo.Client, stdout io.Writer) error {
	onBroker, err := listTopics(ctx, cl)
	if err != nil {
		return err
	}
	// The known topics in their order, then any other dead-letter topic by name: the same
	// listing on every run.
	var others []string
	for t := range onBroker {
		if strings.HasSuffix(t, "-dlq") && !slices.Contains(dlqTopics, t) {
			others = append(others, t)
		}
	}
	slices.Sort(others)
	names := append(slices.Clone(dlqTopics), others...)
	for _, t := range names {
		if !onBroker[t] {
			fmt.Fprintf(stdout, "%-30s %6d  (no such topic yet: nothing dead-lettered)\n", t, 0)
			continue
		}
		ranges, err := partitionRanges(ctx, cl, t)
		if err != nil {
			return err
		}
		var n int64
		for _, r := range ranges {
			n += r[1] - r[0]
		}
		fmt.Fprintf(stdout, "%-30s %6d\n", t, n)
	}
	return nil
}

// dlqList prints one line per entry of the dead-letter topic dlq and a count.
func dlqList(stdout io.Writer, dlq, topic string, entries []dlqEntry, logs []string) {
	for _, e := range entries {
		fmt.Fprintf(stdout, "%d:%d  id=%s  type=%s  time=%s  from=%s  reason: %s\n", e.partition, e.offset,
			orDash(e.ce.ID), orDash(e.ce.Type), orDash(e.ce.Time), orDash(e.source()), dropReason(logs, e))
	}
	fmt.Fprintf(stdout, "%d entr%s on %s (original topic %s)\n", len(entries), plural(len(entries), "y", "ies"), dlq, topic)
}
