package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// dlqTopics are the dead-letter topics of every subscription, <topic>-<service>-dlq.
var dlqTopics = wire.DeadLetterTopics()

// wireTopics is what the wire contract says about each event topic: its message type and
// its partition key.
var wireTopics = func() map[string]wire.Topic {
	m := make(map[string]wire.Topic, len(wire.EventTopics))
	for _, t := range wire.EventTopics {
		m[t.Name] = t
	}
	return m
}()

// splitDLQ returns the original topic and the service of a dead-letter topic name.
func splitDLQ(dlq string) (topic, service string, err error) {
	if topic, service, ok := wire.SplitDeadLetter(dlq); ok {
		return topic, service, nil
	}
	return "", "", fmt.Errorf("%w: %q is not a dead-letter topic: want <topic>-<service>-dlq, topic one of %s",
		errUsage, dlq, strings.Join(slices.Sorted(slices.Values(wire.EventTopicNames())), ", "))
}

type dlqFlags struct {
	cmd, stack, brokers, saslMech, saslUser, topic, edit, dapr, pubsub string
	tls, all                                                           bool
	ids, offsets                                                       []string
	timeout                                                            time.Duration
}

func parseDLQFlags(args []string, stderr io.Writer) (dlqFlags, error) {
	f := dlqFlags{cmd: args[0]}
	fs := flag.NewFlagSet("dlq "+f.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.stack, "stack", ".run/stack.json", "stack.json of a running `make run` (broker, daprd, service logs)")
	fs.StringVar(&f.brokers, "brokers", "", "Kafka brokers host:port,... (default: the local stack's; then no service logs are read)")
	fs.BoolVar(&f.tls, "tls", false, "connect to the brokers with TLS")
	fs.StringVar(&f.saslMech, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (password from $KAFKA_SASL_PASSWORD)")
	fs.StringVar(&f.saslUser, "sasl-user", "", "SASL user name")
	fs.StringVar(&f.topic, "topic", "", "dead-letter topic, e.g. reminders-notification-dlq (list: all of them when empty)")
	fs.Func("id", "show/replay: the entry with this CloudEvent id or event_id (replay: repeatable)", func(s string) error {
		f.ids = append(f.ids, s)
		return nil
	})
	fs.Func("offset", "show/replay: the entry at partition:offset of the dead-letter topic (replay: repeatable)", func(s string) error {
		f.offsets = append(f.offsets, s)
		return nil
	})
	fs.BoolVar(&f.all, "all", false, "replay: every entry (each event_id once)")
	fs.StringVar(&f.edit, "edit", "", "replay: publish this protojson file instead of the entry's payload (same type, same event_id)")
	fs.StringVar(&f.dapr, "dapr", "", "replay: daprd gRPC address host:port (default: the Task API double's sidecar; token from $DAPR_API_TOKEN)")
	fs.StringVar(&f.pubsub, "pubsub", localrun.PubsubName, "replay: pub/sub component name")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up reading the broker after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return f, err
	}
	chosen := len(f.ids) + len(f.offsets)
	switch {
	case f.topic == "" && f.cmd != "list":
		return f, fmt.Errorf("%w: dlq %s needs --topic", errUsage, f.cmd)
	case f.cmd == "show" && chosen != 1:
		return f, fmt.Errorf("%w: dlq show needs one --id or --offset", errUsage)
	case f.cmd == "replay" && f.all == (chosen > 0):
		return f, fmt.Errorf("%w: dlq replay needs --all or one or more --id / --offset", errUsage)
	}
	return f, nil
}

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"list", "show", "replay"}, args[0]) {
		fmt.Fprintln(stderr, "usage: taskflow dlq list|show|replay [flags]   (-h for flags)")
		return errUsage
	}
	f, err := parseDLQFlags(args, stderr)
	if err != nil {
		return err
	}
	var info *devstack.Info
	if f.brokers == "" || (f.cmd == "replay" && f.dapr == "") {
		i, err := loadInfo(f.stack)
		if err != nil {
			return err
		}
		info = &i
		if f.brokers == "" {
			f.brokers = i.Broker
		} else {
			info.RunDir, info.Services = "", nil // another cluster: the stack's logs are not about it
		}
	}
	cl, err := kafkaClient(f)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if f.topic == "" {
		return dlqOverview(ctx, cl, stdout)
	}
	topic, service, err := splitDLQ(f.topic)
	if err != nil {
		return err
	}
	recs, err := readTopic(ctx, cl, f.topic)
	if err != nil {
		return err
	}
	entries := make([]dlqEntry, len(recs))
	for i, r := range recs {
		entries[i] = parseEntry(r, wireTopics[topic])
	}
	logs := serviceLogs(info, service)
	switch f.cmd {
	case "list":
		dlqList(stdout, f.topic, topic, entries, logs)
		return nil
	case "show":
		return dlqShow(stdout, f, entries, logs)
	}
	return dlqReplay(ctx, f, info, topic, entries, stdout)
}

func orDash(s string) string { return cmp.Or(s, "-") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
