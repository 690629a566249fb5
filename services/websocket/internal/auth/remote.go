package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// Remote JWKS defaults (Config.JWKSRefresh, Config.JWKSMinRefresh).
const (
	DefaultJWKSRefresh    = 10 * time.Minute
	DefaultJWKSMinRefresh = 30 * time.Second
	jwksHTTPTimeout       = 10 * time.Second
)

// CheckJWKSURL accepts https URLs, and http ones only for a loopback host (a local identity
// provider): keys fetched over plain HTTP from elsewhere could be swapped on the way.
func CheckJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Host == "":
		return errors.New("want an absolute https URL")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("want https (http only for localhost), got %s://%s", u.Scheme, u.Host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newRemoteKeys fetches the JWKS at cfg.JWKSURL now, then every JWKSRefresh, and when a
// token names a kid the set does not hold (at most once per JWKSMinRefresh; such tokens
// are refused meanwhile instead of waiting). A failed or unparseable fetch keeps the last
// good set and is logged once (jwks_refresh_failed). A failed first fetch does not stop
// the service: it starts with no remote key and the next refresh or unknown kid tries again.
// The refresh goroutine ends with ctx.
func newRemoteKeys(ctx context.Context, cfg Config, logger *slog.Logger) (keyfunc.Keyfunc, error) {
	if err := CheckJWKSURL(cfg.JWKSURL); err != nil {
		return nil, fmt.Errorf("JWKS URL: %w", err)
	}
	refresh, minRefresh := cfg.JWKSRefresh, cfg.JWKSMinRefresh
	if refresh <= 0 {
		refresh = DefaultJWKSRefresh
	}
	if minRefresh <= 0 {
		minRefresh = DefaultJWKSMinRefresh
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:          &http.Client{Timeout: jwksHTTPTimeout},
		HTTPTimeout:     jwksHTTPTimeout,
		RefreshInterval: refresh,
		// Burst 1: one unknown-kid refresh right away, then one per minRefresh. The wait
		// bound also bounds that refresh's HTTP request (jwkset wraps both in one context).
		RefreshUnknownKID: rate.NewLimiter(rate.Every(minRefresh), 1),
		RateLimitWaitMax:  jwksHTTPTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				logger.Warn("jwks_refresh_failed", "url", u, "error", err.Error(), "detail", "keeping the last good key set")
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("JWKS URL: %w", err)
	}
	return k, nil
}
