package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// TestConsoleBrowser starts one stack with its console (as `make run` does) and drives the
// page in headless Chromium as a user would: it loads; a task completion and a reminder
// published from the page's form appear on the timeline with their audit row and effects
// within 5 s; a bad rule shows the API's error next to the field; the recurrence playground
// shows the last Fridays in New York; the chain verifies; the page asked nothing of the
// network but the stack. A screenshot lands in results/console.png.
func TestConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the whole stack and a browser")
	}
	chdirRoot(t)
	root, _ := os.Getwd()
	var out testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := devstack.Start(ctx, devstack.Config{Root: root, RunDir: t.TempDir(), PortBase: portBase(t),
		TaskAPIAppID: testenv.UniqueAppID("task-api"), Console: newConsole, Out: &out})
	if err != nil {
		t.Fatalf("start the stack: %v\n%s", err, out.String())
	}
	t.Cleanup(s.Stop)
	if s.Info.ConsoleURL == "" || !strings.HasPrefix(s.Info.ConsoleURL, "http://127.0.0.1:") {
		t.Fatalf("console_url = %q, want http://127.0.0.1:<port>/", s.Info.ConsoleURL)
	}
	b, err := os.ReadFile(filepath.Join(s.Info.RunDir, "stack.json"))
	if err != nil || !strings.Contains(string(b), `"console_url": "`+s.Info.ConsoleURL+`"`) {
		t.Errorf("stack.json lacks console_url %s (%v):\n%s", s.Info.ConsoleURL, err, b)
	}

	p := startChromium(t)
	p.call(t, "Page.navigate", map[string]any{"url": s.Info.ConsoleURL}, nil)
	p.waitFor(t, 15*time.Second, "the page loads, its broker and WebSocket up",
		`document.readyState === "complete" && document.querySelector("#status-broker").dataset.state === "up" && document.querySelector("#status-ws").dataset.state === "up"`)

	t.Run("bad rule shows the API's error next to the field", func(t *testing.T) {
		p.eval(t, `document.querySelector("#publish-form input[value=task]").click();
			document.querySelector("#publish-rrule").value = "FREQ=SOMETIMES";
			document.querySelector("#publish-form button[type=submit]").click()`, nil)
		p.waitFor(t, 5*time.Second, "the rule's error next to the field",
			`document.querySelector("#publish-rrule-error").textContent.length > 0 && document.querySelector("#publish-rrule").getAttribute("aria-invalid") === "true"`)
	})

	publish := func(t *testing.T, what string, fields map[string]string) string {
		t.Helper()
		js := `document.querySelector("#publish-result").textContent = "";
			document.querySelector("#publish-form input[value=` + what + `]").click();`
		for k, v := range fields {
			js += `document.querySelector("#publish-` + k + `").value = ` + jsString(v) + `;`
		}
		js += `document.querySelector("#publish-form button[type=submit]").click()`
		p.eval(t, js, nil)
		p.waitFor(t, 5*time.Second, "publish answers", `document.querySelector("#publish-result").textContent.startsWith("published")`)
		var res string
		p.eval(t, `document.querySelector("#publish-result").textContent`, &res)
		_, id, _ := strings.Cut(res, ": event ")
		if id == "" {
			t.Fatalf("publish result %q names no event id", res)
		}
		return id
	}
	// shown checks the timeline has the event and the detail panel shows it with effects.
	shown := func(t *testing.T, id string, effects ...string) {
		t.Helper()
		cond := `document.querySelector('#timeline button[data-event-id="` + id + `"]') &&
			document.querySelector("#detail-payload").textContent.includes(` + jsString(id) + `) &&
			document.querySelector("#detail-audit").dataset.state === "found" &&
			document.querySelector("#detail-audit").textContent.includes(` + jsString(id) + `)`
		for _, e := range effects {
			cond += ` && document.querySelector("#detail-` + e + `").dataset.state === "found"`
		}
		p.waitFor(t, 5*time.Second, "event "+id+" on the timeline with its audit row and "+strings.Join(effects, ", "), cond)
	}

	t.Run("task completion: timeline, audit row, next occurrence", func(t *testing.T) {
		id := publish(t, "task", map[string]string{"title": "Water the plants (console)", "rrule": "FREQ=WEEKLY;BYDAY=MO,TH", "tz": "Europe/Berlin"})
		shown(t, id, "next")
		var next string
		p.eval(t, `document.querySelector("#detail-next").textContent`, &next)
		if !strings.Contains(next, "Water the plants (console)") || !strings.Contains(next, "occurrence 1") {
			t.Errorf("next occurrence shows %q, want the title and occurrence 1", next)
		}
	})

	t.Run("reminder: deliveries per channel and the WebSocket frame", func(t *testing.T) {
		id := publish(t, "reminder", map[string]string{"title": "Call mom (console)", "email": "mom@example.com", "webhook": s.Info.WebhookURL})
		shown(t, id, "deliveries", "frames")
		var deliveries string
		p.eval(t, `document.querySelector("#detail-deliveries").textContent`, &deliveries)
		for _, ch := range []string{"CHANNEL_EMAIL", "CHANNEL_WEBHOOK", "CHANNEL_IN_APP"} {
			if !strings.Contains(deliveries, ch) {
				t.Errorf("deliveries show %q, want %s", deliveries, ch)
			}
		}
	})

	t.Run("recurrence playground: last Friday of the month in New York", func(t *testing.T) {
		p.eval(t, `document.querySelector("#preview-rrule").value = "FREQ=MONTHLY;BYDAY=-1FR";
			document.querySelector("#preview-tz").value = "America/New_York";
			document.querySelector("#preview-start").value = "2026-01-01T09:00";
			document.querySelector("#preview-count").value = "6";
			document.querySelector("#preview-form button[type=submit]").click()`, nil)
		p.waitFor(t, 5*time.Second, "the preview", `document.querySelectorAll("#preview-list li").length > 0`)
		var got struct {
			List, Calendar []string
			Text           string
		}
		p.eval(t, `({list: [...document.querySelectorAll("#preview-list li")].map(li => li.dataset.date),
			calendar: [...document.querySelectorAll("#preview-calendar td.occ")].map(td => td.dataset.date),
			text: document.querySelector("#preview-text").textContent})`, &got)
		want := []string{"2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24", "2026-05-29", "2026-06-26"}
		if !slices.Equal(got.List, want) || !slices.Equal(got.Calendar, want) {
			t.Errorf("playground shows list %v, calendar %v, want %v in both", got.List, got.Calendar, want)
		}
		if !strings.Contains(got.Text, "FREQ=MONTHLY;BYDAY=-1FR") || len(got.Text) <= len("FREQ=MONTHLY;BYDAY=-1FR ()") {
			t.Errorf("rule text = %q, want the rule in words and the rule", got.Text)
		}
	})

	t.Run("audit log lists and verifies", func(t *testing.T) {
		p.eval(t, `document.querySelector("#audit-form button[type=submit]").click()`, nil)
		p.waitFor(t, 5*time.Second, "audit rows", `document.querySelectorAll("#audit-table tbody tr").length >= 2`)
		p.eval(t, `document.querySelector("#audit-verify").click()`, nil)
		p.waitFor(t, 10*time.Second, "the chain verifies", `document.querySelector("#audit-verify-result").textContent.startsWith("OK")`)
	})

	var shot struct{ Data string }
	p.call(t, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot)
	img, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	assertNotBlank(t, img)
	if err := os.MkdirAll("results", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("results", "console.png"), img, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, u := range p.requested() {
		if !strings.HasPrefix(u, s.Info.ConsoleURL) && !strings.HasPrefix(u, "ws://127.0.0.1:") && !strings.HasPrefix(u, "data:") && u != "about:blank" {
			t.Errorf("the page requested %s: want nothing outside the local stack", u)
		}
	}
}

// assertNotBlank decodes a PNG and wants many colours in it: a page that rendered text,
// tables and the calendar, not a blank canvas.
func assertNotBlank(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	colours := map[uint32]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 3 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|bl>>8]++
		}
	}
	if bounds.Dx() < 800 || len(colours) < 50 {
		t.Errorf("screenshot %v has %d colours, want a rendered page (>= 50)", bounds, len(colours))
	}
}
