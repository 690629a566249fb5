package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
)

func cmdNext(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("next", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", ".run/stack.json", "stack.json of a running `make run`")
	addr := fs.String("addr", "", "recurring-task service gRPC address (default: the local stack's)")
	rrule := fs.String("rrule", "FREQ=WEEKLY;BYDAY=MO,TH", "RFC 5545 rule")
	dtstart := fs.String("dtstart", "", "first occurrence, RFC 3339 (default: today 08:00 in --tz)")
	tz := fs.String("tz", "Europe/Berlin", "IANA time zone")
	count := fs.Int("count", 5, "how many occurrences (max 100)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target := *addr
	if target == "" {
		info, err := loadInfo(*stack)
		if err != nil {
			return err
		}
		target = info.Services["recurring-task"].GRPC
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("--tz: %w", err)
	}
	now := time.Now().In(loc)
	start := time.Date(now.Year(), now.Month(), now.Day(), 8, 0, 0, 0, loc)
	if *dtstart != "" {
		if start, err = time.Parse(time.RFC3339, *dtstart); err != nil {
			return fmt.Errorf("--dtstart: %w", err)
		}
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := recurrencev1.NewRecurrenceServiceClient(conn).Preview(ctx, &recurrencev1.PreviewRequest{
		Rrule: *rrule, Dtstart: timestamppb.New(start), TimeZone: *tz, Count: uint32(*count)})
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n%s\n\n", r.GetText(), r.GetRrule())
	for _, o := range r.GetOccurrences() {
		fmt.Fprintf(stdout, "%s  (%s)\n", o.GetAt().AsTime().In(loc).Format("Mon 2006-01-02 15:04 MST"), o.GetAt().AsTime().Format(time.RFC3339))
	}
	if r.GetSeriesEnded() {
		fmt.Fprintln(stdout, "(series ended)")
	}
	return nil
}
