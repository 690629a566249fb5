package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// pollMail keeps a copy of mailpit's message list: mailpit prunes all but its newest
// 500 messages (its --max default), so counting at the end would lose mails.
func (o *Observer) pollMail(ctx context.Context) {
	if o.sink != nil {
		return // the sink keeps every mail
	}
	for ctx.Err() == nil {
		_ = o.readNewMail(ctx) // a failed read is retried; Effects reports errors
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// readNewMail reads mailpit's list, newest first, until a whole page holds only messages it
// has seen: concurrent SMTP sessions are stored out of order, so a message older than one
// already seen can still appear below it.
func (o *Observer) readNewMail(ctx context.Context) error {
	if o.sink != nil {
		m, _ := o.sink.Mail()
		o.mu.Lock()
		o.mail = m
		o.mu.Unlock()
		return nil
	}
	o.mailMu.Lock()
	defer o.mailMu.Unlock()
	const page = 200
	fresh := map[string]string{}
	for start := 0; ; start += page {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/messages?start=%d&limit=%d", o.s.Info.MailUI, start, page), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("list mails: %w", err)
		}
		var body struct {
			Messages []struct {
				ID      string `json:"ID"`
				Subject string `json:"Subject"`
			} `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("list mails: %w", err)
		}
		allKnown := true
		o.mu.Lock()
		for _, m := range body.Messages {
			if _, ok := o.mailSeen[m.ID]; ok {
				continue
			}
			allKnown = false
			fresh[m.ID] = m.Subject
		}
		o.mu.Unlock()
		if allKnown || len(body.Messages) < page {
			break
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, subject := range fresh {
		o.mailSeen[id] = subject
		if _, task, ok := strings.Cut(subject, "Reminder: Reminder "); ok {
			o.mail[task]++
		}
	}
	return nil
}
