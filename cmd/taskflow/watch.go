package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"github.com/taskflow/taskflow-events/internal/devstack"
)

func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", ".run/stack.json", "stack.json of a running `make run`")
	wsURL := fs.String("url", "", "WebSocket URL (default: the local stack's)")
	user := fs.String("user", devstack.DevUser, "user to watch as (a dev token is minted with the stack's secret)")
	token := fs.String("token", "", "JWT to use instead of minting one")
	since := fs.String("since", "", "resume after this seq (with --epoch)")
	epoch := fs.String("epoch", "", "epoch of --since")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target, tok := *wsURL, *token
	if target == "" || tok == "" {
		info, err := loadInfo(*stack)
		if err != nil {
			return err
		}
		if target == "" {
			target = info.WebSocketURL
		}
		if tok == "" {
			tok = devstack.DevToken(info.JWTSecret, *user, devstack.DevJWTIssuer, devstack.DevJWTAudience, time.Hour, time.Now())
		}
	}
	q := url.Values{"access_token": {tok}}
	if *since != "" {
		q.Set("since", *since)
		q.Set("epoch", *epoch)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, target+"?"+q.Encode(), nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("connect to %s: HTTP %d: %w", target, resp.StatusCode, err)
		}
		return fmt.Errorf("connect to %s: %w", target, err)
	}
	defer conn.Close()
	fmt.Fprintf(stderr, "watching %s as %s; Ctrl-C to stop\n", target, *user)
	go func() { <-ctx.Done(); conn.Close() }()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		fmt.Fprintf(stdout, "%s %s\n", time.Now().Format("15:04:05.000"), msg)
	}
}
