package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
)

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "verify") {
		fmt.Fprintln(stderr, "usage: taskflow audit list|verify [flags]   (-h for flags)")
		return errUsage
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", ".run/stack.json", "stack.json of a running `make run`")
	addr := fs.String("addr", "", "audit service gRPC address (default: the local stack's)")
	user := fs.String("user", "", "list: only this user's events")
	task := fs.String("task", "", "list: only this task's events")
	kinds := fs.String("kinds", "", "list: comma-separated kinds")
	limit := fs.Int("limit", 50, "list: at most this many events (newest first)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	target := *addr
	if target == "" {
		info, err := loadInfo(*stack)
		if err != nil {
			return err
		}
		target = info.Services["audit"].GRPC
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := auditv1.NewAuditServiceClient(conn)
	if args[0] == "verify" {
		r, err := client.VerifyChain(ctx, &auditv1.VerifyChainRequest{})
		if err != nil {
			return fmt.Errorf("verify chain: %w", err)
		}
		b, _ := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		if !r.GetOk() {
			return fmt.Errorf("the audit chain is broken")
		}
		return nil
	}
	token, n := "", 0
	for n < *limit {
		size := min(*limit-n, 100)
		r, err := client.ListEvents(ctx, &auditv1.ListEventsRequest{UserId: *user, TaskId: *task, Kinds: splitList(*kinds),
			PageSize: int32(size), PageToken: token})
		if err != nil {
			return fmt.Errorf("list events: %w", err)
		}
		for _, e := range r.GetEvents() {
			fmt.Fprintf(stdout, "%6d  %s  %-13s %-34s user=%s task=%s event=%s\n", e.GetSeq(),
				e.GetOccurredAt().AsTime().Format("2006-01-02T15:04:05Z"), e.GetTopic(), e.GetKind(), e.GetUserId(), e.GetTaskId(), e.GetEventId())
			n++
		}
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	fmt.Fprintf(stdout, "%d event(s)\n", n)
	return nil
}
