package daprsub

import (
	"context"
	"fmt"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
)

// OnBulkTopicEvent handles a batch and answers one status per entry. daprd 1.17+ calls
// this stable method first and falls back to OnBulkTopicEventAlpha1 only when it is
// Unimplemented (pkg/runtime/subscription/postman/grpc), which would cost a second round
// trip per batch; daprd 1.16 calls only the alpha method (TestDaprdRuntimeBehaviour).
func (s *Server) OnBulkTopicEvent(ctx context.Context, req *runtimev1.TopicEventBulkRequest) (*runtimev1.TopicEventBulkResponse, error) {
	return s.onBulk(ctx, req)
}

// OnBulkTopicEventAlpha1 is OnBulkTopicEvent for daprd before 1.17.
func (s *Server) OnBulkTopicEventAlpha1(ctx context.Context, req *runtimev1.TopicEventBulkRequest) (*runtimev1.TopicEventBulkResponse, error) {
	return s.onBulk(ctx, req)
}

func (s *Server) onBulk(ctx context.Context, req *runtimev1.TopicEventBulkRequest) (*runtimev1.TopicEventBulkResponse, error) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	start := s.now()
	entries := req.GetEntries()
	out := &runtimev1.TopicEventBulkResponse{Statuses: make([]*runtimev1.TopicEventBulkResponseEntry, len(entries))}
	r := s.lookup(req.GetPubsubName(), req.GetTopic())
	metas := make([]Meta, len(entries))
	datas := make([][]byte, len(entries))
	var decodeErrs []indexedErr
	for i, e := range entries {
		m := Meta{PubsubName: req.GetPubsubName(), Topic: req.GetTopic(), Path: req.GetPath(), Type: req.GetType(), ContentType: e.GetContentType()}
		if ce := e.GetCloudEvent(); ce != nil {
			m.ID, m.Type, m.Source, m.SpecVersion = ce.GetId(), ce.GetType(), ce.GetSource(), ce.GetSpecVersion()
			if ct := ce.GetDataContentType(); ct != "" {
				m.ContentType = ct
			}
			m.setExtensions(ce.GetExtensions())
			datas[i] = ce.GetData()
		} else {
			datas[i] = e.GetBytes()
			if looksLikeCloudEvent(m.ContentType, datas[i]) {
				data, err := unwrapCloudEvent(&m, datas[i])
				if err != nil {
					decodeErrs = append(decodeErrs, indexedErr{i, err})
				}
				datas[i] = data
			}
		}
		m.setKafka(mapGetter(e.GetMetadata()))
		metas[i] = m
	}
	if r == nil {
		for i, e := range entries {
			err := fmt.Errorf("%w: no subscription for %s/%s", ErrInvalidEvent, req.GetPubsubName(), req.GetTopic())
			s.finish(ctx, metas[i], "", err, start)
			out.Statuses[i] = &runtimev1.TopicEventBulkResponseEntry{EntryId: e.GetEntryId(), Status: runtimev1.TopicEventResponse_DROP}
		}
		return out, nil
	}
	sts := r.handleBatch(ctx, s, metas, datas, decodeErrs)
	for i, e := range entries {
		out.Statuses[i] = &runtimev1.TopicEventBulkResponseEntry{EntryId: e.GetEntryId(), Status: sts[i]}
	}
	return out, nil
}

type indexedErr struct {
	i   int
	err error
}
