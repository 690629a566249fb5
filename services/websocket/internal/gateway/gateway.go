// Package gateway is the WebSocket endpoint: it authenticates the upgrade request, attaches
// the connection to the hub and runs one reader and one writer goroutine per connection.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/taskflow/taskflow-events/services/websocket/internal/auth"
	"github.com/taskflow/taskflow-events/services/websocket/internal/hub"
)

// Subprotocols the server understands besides the ("bearer", token) pair.
const (
	ProtoJSON     = "taskflow.v1+json"
	ProtoProtobuf = "taskflow.v1+proto"
	protoBearer   = "bearer"
)

// Config tunes the connections; zero values take the defaults in brackets.
type Config struct {
	PingInterval time.Duration // [25s]
	PongTimeout  time.Duration // how long after a ping the pong may come [10s]
	WriteTimeout time.Duration // [10s]
	ReadLimit    int64         // largest client frame in bytes [4096]
	SendQueue    int           // frames queued per connection before it counts as slow [64]
	// AllowedOrigins lists the browser origins allowed to connect ("*" for any). Empty means
	// same-origin requests and clients that send no Origin header (non-browsers).
	AllowedOrigins []string
	// QueryToken accepts the token as ?access_token= when neither the Authorization header
	// nor the bearer subprotocol carries one. Off by default: a URL, token included, ends
	// up in the access logs of every proxy and load balancer on the way [false].
	QueryToken bool
	// ResumeWait is how long a resume waits for this replica to catch up with a position
	// the client got from a replica that is ahead, before answering resync [2s].
	ResumeWait time.Duration
}

func (c *Config) defaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 4096
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 64
	}
	if c.ResumeWait <= 0 {
		c.ResumeWait = 2 * time.Second
	}
}

// TokenVerifier checks a bearer token.
type TokenVerifier interface {
	Verify(token string) (auth.Claims, error)
}

// Gateway serves GET /ws.
type Gateway struct {
	cfg      Config
	hub      *hub.Hub
	verifier TokenVerifier
	logger   *slog.Logger
	now      func() time.Time
	upgrader websocket.Upgrader
	wg       sync.WaitGroup
}

// New returns a Gateway.
func New(cfg Config, h *hub.Hub, v TokenVerifier, logger *slog.Logger, now func() time.Time) *Gateway {
	cfg.defaults()
	g := &Gateway{cfg: cfg, hub: h, verifier: v, logger: logger, now: now}
	g.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		// Idle connections hold no write buffer: it is taken from the pool for each write.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // checked before Upgrade
	}
	return g
}

// Wait blocks until every connection has finished (after hub.Shutdown kicked them).
func (g *Gateway) Wait() { g.wg.Wait() }

// ServeHTTP authenticates and upgrades a connection, then serves it until it closes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token, offered, bearer := bearerToken(r)
	if token == "" && r.URL.Query().Has("access_token") {
		if !g.cfg.QueryToken {
			g.refuseQueryToken(w, r)
			return
		}
		token = r.URL.Query().Get("access_token")
	}
	claims, err := g.verifier.Verify(token)
	if err != nil {
		g.hub.Metrics().Rejected.WithLabelValues("auth").Inc()
		g.logger.DebugContext(r.Context(), "ws_auth_failed", "error", err.Error(), "remote_addr", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid or missing token", http.StatusUnauthorized)
		return
	}
	if !g.originAllowed(r) {
		g.hub.Metrics().Rejected.WithLabelValues("origin").Inc()
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	since := g.parseSince(r.URL.Query())
	sub := chooseSubprotocol(offered, bearer)
	var hdr http.Header
	if sub != "" {
		hdr = http.Header{"Sec-Websocket-Protocol": {sub}}
	}
	conn, err := g.upgrader.Upgrade(w, r, hdr)
	if err != nil {
		return // the upgrader already answered
	}
	// Serve the connection in goroutines of its own and return: while the handler runs,
	// net/http keeps the request and its 4 KiB read and write buffers alive (~11 KiB per
	// idle connection, a third of its memory).
	ctx := context.WithoutCancel(r.Context())
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.serve(ctx, conn, claims, sub == ProtoProtobuf, since)
	}()
}

// refuseQueryToken answers 401 to a request whose only token is in the URL while
// QueryToken is off. The log line names the client, never the token or the URL.
func (g *Gateway) refuseQueryToken(w http.ResponseWriter, r *http.Request) {
	g.hub.Metrics().Rejected.WithLabelValues("query_token").Inc()
	g.logger.InfoContext(r.Context(), "ws_query_token_refused",
		"remote_addr", r.RemoteAddr, "origin", r.Header.Get("Origin"), "user_agent", r.UserAgent())
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request", error_description="access_token in the URL is disabled"`)
	http.Error(w, "access_token in the URL is disabled on this server: send the token in the Authorization header or the bearer subprotocol", http.StatusUnauthorized)
}

// bearerToken finds the token in the Authorization header or the ("bearer", token)
// subprotocol pair, and returns the other offered subprotocols and whether the bearer
// pair was offered. The access_token query parameter is ServeHTTP's business.
func bearerToken(r *http.Request) (token string, rest []string, bearer bool) {
	offered := websocket.Subprotocols(r)
	for i := 0; i < len(offered); i++ {
		if strings.EqualFold(offered[i], protoBearer) && i+1 < len(offered) {
			token, bearer = offered[i+1], true
			i++
			continue
		}
		rest = append(rest, offered[i])
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		token = strings.TrimSpace(h[7:])
	}
	return token, rest, bearer
}

// chooseSubprotocol picks the frame format. A browser that offered subprotocols must get
// one of them back, so "bearer" is echoed when it was the only one (never the token).
func chooseSubprotocol(offered []string, bearer bool) string {
	for _, p := range offered {
		if p == ProtoProtobuf || p == ProtoJSON {
			return p
		}
	}
	if bearer {
		return protoBearer
	}
	return ""
}

func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range g.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	if len(g.cfg.AllowedOrigins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	return false
}

// parseSince reads the resume position. A malformed one, or one of another deployment, is
// not an error (that could make a client retry forever): the client gets resync.
func (g *Gateway) parseSince(q url.Values) *hub.Position {
	if !q.Has("since") && !q.Has("epoch") {
		return nil
	}
	p := g.hub.ParsePosition(q.Get("epoch"), q.Get("since"))
	return &p
}
