// Package auditapi serves taskflow.audit.v1.AuditService over the audit log.
package auditapi

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

const (
	// DefaultPageSize is used when page_size is 0.
	DefaultPageSize = 100
	// MaxPageSize caps page_size.
	MaxPageSize = 1000
	maxKinds    = 32
)

// Log is what the API needs of the audit log.
type Log interface {
	Snapshot(ctx context.Context) (int64, error)
	List(ctx context.Context, f auditlog.Filter, c auditlog.Cursor, limit int) ([]auditlog.Event, error)
	Verify(ctx context.Context, opts auditlog.VerifyOptions) (auditlog.Verification, error)
	Keys() auditsig.KeyRing
}

// Bounds of one VerifyChain call: at most MaxVerifyRows rows, and the walk stops after
// the chunk that passes VerifyBudget (the end-of-log checks then still fit the deadline).
const (
	MaxVerifyRows    = 100_000
	VerifyBudget     = 10 * time.Second
	maxPublicKeys    = 16
	maxCheckpointsIn = 1000
)

// Server implements AuditService over a Log.
type Server struct {
	auditv1.UnimplementedAuditServiceServer
	log Log
}

var _ auditv1.AuditServiceServer = (*Server)(nil)

// NewServer returns a Server over log.
func NewServer(log Log) *Server { return &Server{log: log} }

// Register adds the service to a gRPC server.
func Register(g grpc.ServiceRegistrar, s auditv1.AuditServiceServer) {
	auditv1.RegisterAuditServiceServer(g, s)
}

// ListEvents lists events newest first, one consistent snapshot across pages.
func (s *Server) ListEvents(ctx context.Context, req *auditv1.ListEventsRequest) (*auditv1.ListEventsResponse, error) {
	f, err := filterOf(req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d: want 0 to %d", size, MaxPageSize)
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	fp := fingerprint(f)
	var cur auditlog.Cursor
	if req.GetPageToken() != "" {
		tok, err := decodeToken(req.GetPageToken())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		if tok.filter != fp {
			return nil, status.Error(codes.InvalidArgument, "page_token belongs to a listing with other filters")
		}
		cur = tok.cursor
	} else if cur.Snapshot, err = s.log.Snapshot(ctx); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	evs, err := s.log.List(ctx, f, cur, size+1)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp := &auditv1.ListEventsResponse{}
	if len(evs) > size {
		evs = evs[:size]
		lastEv := evs[len(evs)-1]
		resp.NextPageToken = pageToken{
			cursor: auditlog.Cursor{Snapshot: cur.Snapshot, OccurredAt: lastEv.OccurredAt, Seq: lastEv.Seq},
			filter: fp,
		}.encode()
	}
	for _, e := range evs {
		pe, err := eventProto(e)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		resp.Events = append(resp.Events, pe)
	}
	return resp, nil
}

func filterOf(req *auditv1.ListEventsRequest) (auditlog.Filter, error) {
	f := auditlog.Filter{UserID: req.GetUserId(), TaskID: req.GetTaskId(), Kinds: req.GetKinds()}
	if len(f.Kinds) > maxKinds {
		return f, fmt.Errorf("kinds: %d given, at most %d", len(f.Kinds), maxKinds)
	}
	for name, ts := range map[string]*timestamppb.Timestamp{"from_time": req.GetFromTime(), "to_time": req.GetToTime()} {
		if ts == nil {
			continue
		}
		if err := ts.CheckValid(); err != nil {
			return f, fmt.Errorf("%s: %w", name, err)
		}
	}
	if req.GetFromTime() != nil {
		f.From = req.GetFromTime().AsTime()
	}
	if req.GetToTime() != nil {
		f.To = req.GetToTime().AsTime()
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return f, errors.New("from_time is after to_time")
	}
	return f, nil
}

func eventProto(e auditlog.Event) (*auditv1.AuditEvent, error) {
	payload := &structpb.Struct{}
	if err := payload.UnmarshalJSON(e.PayloadJSON); err != nil {
		return nil, fmt.Errorf("read payload of %s: %w", e.EventID, err)
	}
	return &auditv1.AuditEvent{
		Seq: uint64(e.Seq), EventId: e.EventID, Topic: e.Topic, Kind: e.Kind, CloudEventType: e.CEType,
		PayloadType: e.PayloadType, OccurredAt: timestamppb.New(e.OccurredAt), ReceivedAt: timestamppb.New(e.ReceivedAt),
		ActorId: e.ActorID, UserId: e.UserID, TaskId: e.TaskID, Payload: payload, TraceId: e.TraceID,
		PrevHash: e.PrevHash, Hash: e.Hash, OccurredOutOfWindow: e.OccurredOutOfWindow,
	}, nil
}

// VerifyChain verifies a range of the chain, bounded per call.
func (s *Server) VerifyChain(ctx context.Context, req *auditv1.VerifyChainRequest) (*auditv1.VerifyChainResponse, error) {
	from, to := req.GetFromSeq(), req.GetToSeq()
	if from > 1<<62 || to > 1<<62 {
		return nil, status.Error(codes.InvalidArgument, "from_seq and to_seq must be below 2^62")
	}
	if to != 0 && from > to {
		return nil, status.Errorf(codes.InvalidArgument, "from_seq %d is after to_seq %d", from, to)
	}
	opts := auditlog.VerifyOptions{FromSeq: int64(from), ToSeq: int64(to), MaxRows: MaxVerifyRows, Until: time.Now().Add(VerifyBudget)}
	if n := req.GetMaxRows(); n > 0 && n < MaxVerifyRows {
		opts.MaxRows = int64(n)
	}
	if n := len(req.GetPublicKeys()); n > maxPublicKeys {
		return nil, status.Errorf(codes.InvalidArgument, "%d public_keys: at most %d", n, maxPublicKeys)
	}
	if len(req.GetPublicKeys()) > 0 {
		var keys []ed25519.PublicKey
		for i, k := range req.GetPublicKeys() {
			if len(k) != ed25519.PublicKeySize {
				return nil, status.Errorf(codes.InvalidArgument, "public_keys[%d]: %d bytes, want an Ed25519 key of %d", i, len(k), ed25519.PublicKeySize)
			}
			keys = append(keys, ed25519.PublicKey(k))
		}
		opts.Keys = auditsig.NewKeyRing(keys...)
	}
	if n := len(req.GetCheckpoints()); n > maxCheckpointsIn {
		return nil, status.Errorf(codes.InvalidArgument, "%d checkpoints: at most %d per call", n, maxCheckpointsIn)
	}
	for i, p := range req.GetCheckpoints() {
		cp, err := auditsig.CheckpointFromProto(p)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "checkpoints[%d]: %v", i, err)
		}
		opts.Checkpoints = append(opts.Checkpoints, cp)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*VerifyBudget)
	defer cancel()
	v, err := s.log.Verify(ctx, opts)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	keys := opts.Keys
	if keys == nil {
		keys = s.log.Keys()
	}
	resp := &auditv1.VerifyChainResponse{
		Ok: v.OK(), RowsChecked: uint64(v.RowsChecked), FirstSeq: uint64(v.FirstSeq), LastSeq: uint64(v.LastSeq),
		NextFromSeq: uint64(v.Next), KeyIds: keys.IDs(),
	}
	for _, b := range v.Breaks {
		f := &auditv1.BrokenLink{Seq: uint64(b.Seq), EventId: b.EventID, Reason: reasonProto[b.Reason], Detail: b.Detail}
		if !b.Month.IsZero() {
			f.Month = b.Month.Format("2006-01")
		}
		resp.Findings = append(resp.Findings, f)
	}
	if len(resp.Findings) > 0 {
		resp.BrokenLink = resp.Findings[0]
	}
	return resp, nil
}

var reasonProto = map[auditlog.BreakReason]auditv1.BreakReason{
	auditlog.ContentMismatch:      auditv1.BreakReason_BREAK_REASON_CONTENT_HASH_MISMATCH,
	auditlog.PrevMismatch:         auditv1.BreakReason_BREAK_REASON_PREV_HASH_MISMATCH,
	auditlog.HeadMismatch:         auditv1.BreakReason_BREAK_REASON_CHAIN_HEAD_MISMATCH,
	auditlog.Unreadable:           auditv1.BreakReason_BREAK_REASON_UNREADABLE_ROW,
	auditlog.HeadSignatureInvalid: auditv1.BreakReason_BREAK_REASON_HEAD_SIGNATURE_INVALID,
	auditlog.MonthMissing:         auditv1.BreakReason_BREAK_REASON_MONTH_MISSING,
	auditlog.SeqGap:               auditv1.BreakReason_BREAK_REASON_SEQ_GAP,
	auditlog.RetentionInvalid:     auditv1.BreakReason_BREAK_REASON_RETENTION_INVALID,
	auditlog.CheckpointMismatch:   auditv1.BreakReason_BREAK_REASON_CHECKPOINT_MISMATCH,
}
