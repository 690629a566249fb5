package daprpub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskflow/taskflow-events/internal/wire"
)

// BatchItem is one message of a PublishBatch with its partition key.
type BatchItem struct {
	Key string
	Msg wire.Event
}

// BatchError is the error of a PublishBatch that did not publish every item.
type BatchError struct {
	// Failed maps the index of every item that was not published to the reason.
	Failed map[int]error
	msg    string
}

func (e *BatchError) Error() string { return e.msg }

// Unwrap returns the reasons, so errors.Is sees ErrMarshal or the sidecar's error.
func (e *BatchError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}

// errEntryFailed is the reason of an entry daprd listed as failed in a bulk response
// (the go-sdk drops daprd's per-entry error text).
var errEntryFailed = errors.New("listed as failed in the bulk publish response")

// PublishBatch sends items to topic with one bulk publish (daprd's BulkPublishEventAlpha1),
// each entry in the wire format of Publish. An item that cannot be marshalled is not sent.
// When an item is not published the error is a *BatchError naming the failed items by
// index and event_id; the other items were published.
func (p *Publisher) PublishBatch(ctx context.Context, topic, ceType string, items []BatchItem) error {
	failed := map[int]error{}
	events := make([]any, 0, len(items))
	for i, it := range items {
		data, err := marshal(it.Msg)
		if err != nil {
			failed[i] = err
			continue
		}
		// The go-sdk sends each PublishEventsEvent's ContentType and Metadata as the entry's
		// own; the entry id (unique, non-empty, as daprd requires) is the item index.
		events = append(events, dapr.PublishEventsEvent{
			EntryID: strconv.Itoa(i), Data: data, ContentType: wire.ContentType, Metadata: metadata(ceType, it.Key, it.Msg),
		})
	}
	if len(events) > 0 {
		resp := p.publishEvents(ctx, topic, events)
		if resp.Error != nil {
			markFailed(failed, items, resp)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &BatchError{Failed: failed, msg: batchMessage(topic, ceType, items, failed)}
}

// publishEvents is the go-sdk's PublishEvents, except on daprd 1.16: there the stable
// BulkPublishEvent does not exist, and daprd answers the unknown method through its gRPC
// service-invocation proxy with Unknown "failed to proxy request" instead of Unimplemented,
// so the go-sdk (v1.15.0) never falls back to BulkPublishEventAlpha1 and every bulk publish
// fails. Seeing that answer once, the publisher calls the alpha method itself from then on.
func (p *Publisher) publishEvents(ctx context.Context, topic string, events []any) dapr.PublishEventsResponse {
	if p.raw != nil && p.alphaOnly.Load() {
		return p.publishAlpha(ctx, topic, events)
	}
	resp := p.client.PublishEvents(ctx, p.pubsub, topic, events)
	if p.raw != nil && resp.Error != nil && stableBulkMissing(resp.Error) {
		p.alphaOnly.Store(true)
		return p.publishAlpha(ctx, topic, events)
	}
	return resp
}

// PublishEvents is the go-sdk's PublishEvents on this publisher's component, working on
// daprd 1.16 too (see publishEvents). events are dapr.PublishEventsEvent values.
func (p *Publisher) PublishEvents(ctx context.Context, topic string, events []any) dapr.PublishEventsResponse {
	return p.publishEvents(ctx, topic, events)
}

// stableBulkMissing reports whether err is daprd 1.16's answer to BulkPublishEvent.
func stableBulkMissing(err error) bool {
	st, ok := status.FromError(errors.Unwrap(err))
	return ok && (st.Code() == codes.Unimplemented ||
		(st.Code() == codes.Unknown && strings.Contains(st.Message(), "failed to proxy request")))
}

// publishAlpha sends events (PublishEventsEvent, as PublishBatch builds them) with
// BulkPublishEventAlpha1 and answers as the go-sdk's PublishEvents does.
func (p *Publisher) publishAlpha(ctx context.Context, topic string, events []any) dapr.PublishEventsResponse {
	req := &runtimev1.BulkPublishRequest{PubsubName: p.pubsub, Topic: topic}
	byID := make(map[string]any, len(events))
	for _, ev := range events {
		e := ev.(dapr.PublishEventsEvent)
		byID[e.EntryID] = ev
		req.Entries = append(req.Entries, &runtimev1.BulkPublishRequestEntry{
			EntryId: e.EntryID, Event: e.Data, ContentType: e.ContentType, Metadata: e.Metadata})
	}
	res, err := p.raw.BulkPublishEventAlpha1(ctx, req) //nolint:staticcheck // the only bulk method of daprd 1.16
	if err != nil {
		return dapr.PublishEventsResponse{Error: fmt.Errorf("error publishing events onto %s topic: %w", topic, err), FailedEvents: events}
	}
	var resp dapr.PublishEventsResponse
	for _, fe := range res.GetFailedEntries() {
		resp.FailedEvents = append(resp.FailedEvents, byID[fe.GetEntryId()])
	}
	if len(resp.FailedEvents) > 0 {
		resp.Error = fmt.Errorf("%d of %d events failed to publish onto %s: %w", len(resp.FailedEvents), len(events), topic, errEntryFailed)
	}
	return resp
}

// markFailed records the items of a failed bulk publish. The go-sdk returns every event
// when the call failed (daprd fails the whole call when the broker rejects any entry; measured on 1.14)
// and only the rejected ones when daprd listed failed entries; its error then wraps nil. An
// entry that cannot be matched to an item fails every item sent.
func markFailed(failed map[int]error, items []BatchItem, resp dapr.PublishEventsResponse) {
	reason := resp.Error
	if errors.Unwrap(resp.Error) == nil {
		reason = errEntryFailed // the go-sdk's text ends in "%!w(<nil>)"
	}
	var idx []int
	for _, fe := range resp.FailedEvents {
		e, ok := fe.(dapr.PublishEventsEvent)
		i, err := strconv.Atoi(e.EntryID)
		if !ok || err != nil || i < 0 || i >= len(items) {
			idx = nil
			break
		}
		idx = append(idx, i)
	}
	if idx == nil {
		for i := range items {
			idx = append(idx, i)
		}
	}
	for _, i := range idx {
		if _, ok := failed[i]; !ok {
			failed[i] = reason
		}
	}
}

// batchMessage names the failed items by index and event_id, then each distinct reason once.
func batchMessage(topic, ceType string, items []BatchItem, failed map[int]error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "publish %s batch to %s: %d of %d entries failed:", ceType, topic, len(failed), len(items))
	var reasons []string
	seen := map[string]bool{}
	for i := range items {
		err, ok := failed[i]
		if !ok {
			continue
		}
		sep := ", "
		if len(reasons) == 0 {
			sep = " "
		}
		fmt.Fprintf(&b, "%s%d (event_id %q)", sep, i, items[i].Msg.GetEventId())
		if r := err.Error(); !seen[r] {
			seen[r] = true
			reasons = append(reasons, r)
		}
	}
	b.WriteString(": ")
	b.WriteString(strings.Join(reasons, "; "))
	return b.String()
}
