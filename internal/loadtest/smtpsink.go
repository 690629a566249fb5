package loadtest

import (
	"bufio"
	"errors"
	"mime"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// SMTPSink is the benchmark's e-mail receiver: an SMTP server (RFC 5321 without
// extensions beyond 8BITMIME) that accepts every message and keeps only a count per task in
// its Subject. mailpit, the stack's receiver, parses, indexes and stores each message in
// SQLite: 0.85 ms of CPU per mail on this 2-core machine with nothing else running, more
// than any service spends on an event, and a third of a core during make bench, taken
// from the processes being measured. The sink costs a few microseconds.
type SMTPSink struct {
	ln   net.Listener
	mu   sync.Mutex
	mail map[string]int // task id → mails
	n    int
	open map[net.Conn]struct{}
	wg   sync.WaitGroup
}

// StartSMTPSink listens on a free loopback port.
func StartSMTPSink() (*SMTPSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SMTPSink{ln: ln, mail: map[string]int{}, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is host:port.
func (s *SMTPSink) Addr() string { return s.ln.Addr().String() }

// Close stops accepting and waits for the sessions to end. A nil sink is left alone.
func (s *SMTPSink) Close() {
	if s == nil {
		return
	}
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Mail returns the mails received per task id (the subject's "Reminder: Reminder <task>")
// and how many messages arrived in all.
func (s *SMTPSink) Mail() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyMap(s.mail), s.n
}

func (s *SMTPSink) serve() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		s.open[c] = struct{}{}
		s.mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// session speaks SMTP on c until QUIT or an error.
func (s *SMTPSink) session(c net.Conn) {
	tp := textproto.NewConn(c)
	w := bufio.NewWriter(c)
	reply := func(line string) bool {
		_, _ = w.WriteString(line + "\r\n")
		return w.Flush() == nil
	}
	if !reply("220 sink ESMTP") {
		return
	}
	for {
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(line, " ")
		var ok bool
		switch strings.ToUpper(verb) {
		case "EHLO":
			// PIPELINING as Postfix offers it: commands are read and
			// answered in order, so a pipelined group needs nothing more.
			ok = reply("250-sink\r\n250-8BITMIME\r\n250 PIPELINING")
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			ok = reply("250 OK")
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			body, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			s.received(body)
			ok = reply("250 OK queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			ok = reply("502 not implemented")
		}
		if !ok {
			return
		}
	}
}

// received notes a message by the task id in its subject.
func (s *SMTPSink) received(lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	for _, l := range lines {
		if l == "" {
			return // end of the header
		}
		subject, ok := strings.CutPrefix(l, "Subject: ")
		if !ok {
			continue
		}
		if d, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
			subject = d
		}
		if _, task, ok := strings.Cut(subject, "Reminder: Reminder "); ok {
			s.mail[task]++
		}
		return
	}
}
