package testenv

import (
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Mailpit is a real SMTP server (mailpit, installed by the Makefile) whose messages are
// read through its HTTP API.
type Mailpit struct {
	// SMTPAddr and HTTPAddr are the loopback host:port of the SMTP server and of the API.
	SMTPAddr, HTTPAddr string

	dbPath string
	proc   *Process
	owner  testing.TB // the test that owns the process (a subtest may restart it)
}

// StartMailpit runs mailpit on free loopback ports with its database in a temporary
// directory and waits until it is ready; t.Cleanup stops it.
func StartMailpit(t testing.TB) *Mailpit {
	t.Helper()
	SkipShort(t, "mailpit")
	m := &Mailpit{
		SMTPAddr: "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		HTTPAddr: "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		dbPath:   filepath.Join(t.TempDir(), "mailpit.db"),
		owner:    t,
	}
	m.Start(t)
	return m
}

// Start (re)starts mailpit on the same ports and database, keeping the stored messages,
// and waits until its API is ready and its SMTP port accepts connections.
func (m *Mailpit) Start(t testing.TB) {
	t.Helper()
	if m.proc != nil && !m.proc.Exited() {
		t.Fatal("testenv: mailpit is already running")
	}
	cmd := exec.Command(Bin(t, "mailpit"), "--smtp", m.SMTPAddr, "--listen", m.HTTPAddr,
		"--database", m.dbPath, "--disable-version-check", "--smtp-disable-rdns", "--quiet")
	m.proc = StartProcess(m.owner, "mailpit", cmd)
	WaitFor(t, 20*time.Second, "mailpit to be ready", func() bool {
		resp, err := http.Get("http://" + m.HTTPAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
		c, err := net.DialTimeout("tcp", m.SMTPAddr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// Stop stops mailpit; SMTP connections are refused until Start.
func (m *Mailpit) Stop(t testing.TB) {
	t.Helper()
	m.proc.Stop(5 * time.Second)
	if !m.proc.Wait(5 * time.Second) {
		t.Fatal("testenv: mailpit did not exit")
	}
}

// Mail is a stored message as mailpit lists it.
type Mail struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"` // as mailpit shows it, with or without angle brackets
	Subject   string `json:"Subject"`
	To        []struct {
		Address string `json:"Address"`
	} `json:"To"`
}

// MailBody is the text and HTML part of a message.
type MailBody struct {
	Text string `json:"Text"`
	HTML string `json:"HTML"`
}

// Messages lists every stored message (up to 1000), newest first.
func (m *Mailpit) Messages(t testing.TB) []Mail {
	t.Helper()
	var out struct {
		Messages []Mail `json:"messages"`
	}
	m.getJSON(t, "/api/v1/messages?limit=1000", &out)
	return out.Messages
}

// ByMessageID returns the messages whose Message-ID is id (without angle brackets).
func (m *Mailpit) ByMessageID(t testing.TB, id string) []Mail {
	t.Helper()
	var got []Mail
	for _, msg := range m.Messages(t) {
		if strings.Trim(msg.MessageID, "<>") == id {
			got = append(got, msg)
		}
	}
	return got
}

// Body returns the text and HTML of the message with mailpit id id.
func (m *Mailpit) Body(t testing.TB, id string) MailBody {
	t.Helper()
	var b MailBody
	m.getJSON(t, "/api/v1/message/"+id, &b)
	return b
}

func (m *Mailpit) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + m.HTTPAddr + path)
	if err != nil {
		t.Fatalf("testenv: mailpit GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: mailpit GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("testenv: mailpit GET %s: decode: %v", path, err)
	}
}
