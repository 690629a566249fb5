// Package envconfig reads a service's configuration from environment variables once,
// collecting every problem so that a misconfigured service reports all of them at start.
package envconfig

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Reader reads typed values through a getenv function and remembers every error.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv (os.Getenv in main, a map lookup in tests).
func New(getenv func(string) string) *Reader {
	return &Reader{getenv: getenv}
}

// Err returns all errors seen so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Fail records a validation error that is not about parsing one variable.
func (r *Reader) Fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

func (r *Reader) lookup(name string) (string, bool) {
	v := strings.TrimSpace(r.getenv(name))
	return v, v != ""
}

// String returns the variable or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	if v, ok := r.lookup(name); ok {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset.
func (r *Reader) Required(name string) string {
	v, ok := r.lookup(name)
	if !ok {
		r.errs = append(r.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

// Int returns the variable parsed as an integer within [lo, hi], or def.
func (r *Reader) Int(name string, def, lo, hi int) int {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want an integer from %d to %d", name, v, lo, hi))
		return def
	}
	return n
}

// Duration returns the variable parsed with time.ParseDuration (e.g. "250ms", "6h"), or def.
// Negative durations are rejected.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a non-negative duration such as 30s or 6h", name, v))
		return def
	}
	return d
}

// Bool returns the variable parsed with strconv.ParseBool, or def.
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

// List returns the comma-separated variable with empty items removed, or def.
func (r *Reader) List(name string, def []string) []string {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// URL returns the variable parsed as an absolute URL with one of the schemes, or nil when unset.
func (r *Reader) URL(name string, schemes ...string) *url.URL {
	v, ok := r.lookup(name)
	if !ok {
		return nil
	}
	u, err := url.Parse(v)
	if err == nil && u.Host != "" {
		for _, s := range schemes {
			if u.Scheme == s {
				return u
			}
		}
	}
	r.errs = append(r.errs, fmt.Errorf("%s: want an absolute %s URL", name, strings.Join(schemes, " or ")))
	return nil
}
