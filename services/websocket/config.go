package main

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/websocket/internal/auth"
	"github.com/taskflow/taskflow-events/services/websocket/internal/gateway"
	"github.com/taskflow/taskflow-events/services/websocket/internal/hub"
)

// Config is the websocket service's configuration, read once from the environment.
type Config struct {
	App             grpcapp.Config
	HTTPAddr        string
	Topic           string
	DeadLetterTopic string
	// BulkMaxMessages is the most updates daprd delivers in one call (BULK_MAX_MESSAGES,
	// 100); 1 turns bulk delivery off (one update per call).
	BulkMaxMessages int
	// BulkMaxAwait is how long daprd waits to fill a bulk call (BULK_MAX_AWAIT, 5ms): the
	// most an update waits in daprd when updates are few.
	BulkMaxAwait time.Duration
	Auth         auth.Config
	Gateway      gateway.Config
	Hub          hub.Config
}

func readConfig(getenv func(string) string) (Config, error) {
	r := envconfig.New(getenv)
	c := Config{
		App:             grpcapp.ReadConfig(r),
		HTTPAddr:        r.String("HTTP_ADDR", ":8080"),
		Topic:           r.String("TOPIC", wire.TopicTaskUpdates),
		DeadLetterTopic: r.String("DEAD_LETTER_TOPIC", wire.DeadLetterTaskUpdatesWebsocket),
		BulkMaxMessages: r.Int("BULK_MAX_MESSAGES", wire.WebsocketBulkMaxMessages, 1, 1000),
		BulkMaxAwait:    r.Duration("BULK_MAX_AWAIT", wire.WebsocketBulkMaxAwait),
		Auth: auth.Config{
			HS256Secret: []byte(r.String("JWT_HS256_SECRET", "")),
			Issuer:      r.String("JWT_ISSUER", ""),
			Audience:    r.List("JWT_AUDIENCE", nil),
			UserClaim:   r.String("JWT_USER_CLAIM", "sub"),
			Leeway:      r.Duration("JWT_LEEWAY", 30*time.Second),
			JWKSURL:     r.String("JWT_JWKS_URL", ""),
			JWKSRefresh: r.Duration("JWT_JWKS_REFRESH", auth.DefaultJWKSRefresh),
			// Rate limit of refreshes triggered by tokens with an unknown kid.
			JWKSMinRefresh: r.Duration("JWT_JWKS_MIN_REFRESH", auth.DefaultJWKSMinRefresh),
		},
		Gateway: gateway.Config{
			PingInterval:   r.Duration("WS_PING_INTERVAL", 25*time.Second),
			PongTimeout:    r.Duration("WS_PONG_TIMEOUT", 10*time.Second),
			WriteTimeout:   r.Duration("WS_WRITE_TIMEOUT", 10*time.Second),
			ReadLimit:      int64(r.Int("WS_READ_LIMIT", 4096, 128, 1<<20)),
			SendQueue:      r.Int("WS_SEND_QUEUE", 64, 2, 1<<16),
			AllowedOrigins: r.List("ALLOWED_ORIGINS", nil),
			QueryToken:     r.Bool("WS_QUERY_TOKEN", false),
			ResumeWait:     r.Duration("WS_RESUME_WAIT", 2*time.Second),
		},
		Hub: hub.Config{
			HistorySize:     r.Int("HISTORY_SIZE", 100, 0, 100000),
			HistoryTTL:      r.Duration("HISTORY_TTL", 5*time.Minute),
			MaxConnsPerUser: r.Int("MAX_CONNS_PER_USER", 16, 1, 10000),
			MaxConns:        r.Int("MAX_CONNS", 50000, 1, 10000000),
			// Bytes as counted by the hub: both frame encodings, the event id and a
			// per-update overhead (see hub.entrySize).
			HistoryUserBytes:  int64(r.Int("HISTORY_USER_BYTES", 1<<20, 1024, math.MaxInt)),
			HistoryTotalBytes: int64(r.Int("HISTORY_TOTAL_BYTES", 64<<20, 1024, math.MaxInt)),
			HistoryTotalSize:  r.Int("HISTORY_TOTAL_SIZE", 100000, 1, math.MaxInt32),
		},
	}
	// Positions are only comparable within one stream: the same component and topic of
	// the same deployment. Operators running several deployments on one broker set it.
	c.Hub.StreamID = r.String("RESUME_STREAM_ID", c.App.PubsubName+"/"+c.Topic)
	if f := r.String("JWT_PUBLIC_KEYS_FILE", ""); f != "" {
		if b, err := os.ReadFile(f); err != nil {
			r.Fail("JWT_PUBLIC_KEYS_FILE: %v", err)
		} else {
			c.Auth.PublicKeysPEM = b
		}
	}
	if f := r.String("JWT_JWKS_FILE", ""); f != "" {
		if b, err := os.ReadFile(f); err != nil {
			r.Fail("JWT_JWKS_FILE: %v", err)
		} else {
			c.Auth.JWKS = b
		}
	}
	if c.Auth.JWKSURL != "" {
		if err := auth.CheckJWKSURL(c.Auth.JWKSURL); err != nil {
			r.Fail("JWT_JWKS_URL: %v", err)
		}
	}
	if len(c.Auth.HS256Secret) == 0 && c.Auth.PublicKeysPEM == nil && c.Auth.JWKS == nil && c.Auth.JWKSURL == "" {
		r.Fail("set at least one of JWT_HS256_SECRET, JWT_PUBLIC_KEYS_FILE, JWT_JWKS_FILE, JWT_JWKS_URL")
	}
	// daprd receives maxAwaitDurationMs in whole milliseconds and treats 0 as unset (it then
	// waits its default: 1s, 10s with pubsub.kafka), the opposite of "do not wait".
	if c.BulkMaxAwait < time.Millisecond {
		r.Fail("BULK_MAX_AWAIT=%s: want at least 1ms (daprd treats 0 as its default wait of 1s, 10s with Kafka)", c.BulkMaxAwait)
	}
	if c.Hub.HistoryUserBytes > c.Hub.HistoryTotalBytes {
		r.Fail("HISTORY_USER_BYTES (%d) must not exceed HISTORY_TOTAL_BYTES (%d)", c.Hub.HistoryUserBytes, c.Hub.HistoryTotalBytes)
	}
	if n := len(c.Auth.HS256Secret); n > 0 && n < 32 {
		r.Fail("JWT_HS256_SECRET: want at least 32 bytes, got %d", n)
	}
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}
