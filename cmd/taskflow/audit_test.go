package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// keygen runs `taskflow audit keygen` and returns the private key and the public key file.
func keygen(t *testing.T) (*auditsig.Signer, string) {
	t.Helper()
	var out testenv.SyncBuffer
	if err := run(context.Background(), []string{"audit", "keygen"}, os.Getenv, &out, &out); err != nil {
		t.Fatalf("audit keygen: %v", err)
	}
	text := out.String()
	i := strings.Index(text, "-----BEGIN PUBLIC KEY-----")
	if i < 0 || !strings.Contains(text, "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("keygen output lacks the PEM blocks:\n%s", text)
	}
	priv, err := auditsig.ParsePrivateKey(text[:i])
	if err != nil {
		t.Fatalf("the printed private key does not parse: %v", err)
	}
	pubFile := filepath.Join(t.TempDir(), "audit.pub")
	if err := os.WriteFile(pubFile, []byte(text[i:]), 0o600); err != nil {
		t.Fatal(err)
	}
	return auditsig.NewSigner(priv), pubFile
}

// checkpointFile writes signed checkpoints as an auditor keeps them: protojson, one per line.
func checkpointFile(t *testing.T, s *auditsig.Signer, seqs ...int64) (string, []*auditv1.Checkpoint) {
	t.Helper()
	var lines []string
	var cps []*auditv1.Checkpoint
	for _, seq := range seqs {
		cp := auditsig.Checkpoint{Seq: seq, CreatedAt: time.Date(2026, 12, 2, 10, 0, int(seq), 0, time.UTC), KeyID: s.KeyID(),
			Heads: []auditsig.Head{{Month: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), LastSeq: seq, Hash: []byte("0123456789abcdef0123456789abcdef")}}}
		cp.Signature = s.Sign(auditsig.CheckpointMessage(cp))
		p := auditsig.CheckpointProto(cp)
		b, err := protojson.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		lines, cps = append(lines, string(b)), append(cps, p)
	}
	f := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, cps
}

func TestAuditVerifyOffline(t *testing.T) {
	signer, pub := keygen(t)
	file, _ := checkpointFile(t, signer, 10, 20, 30)
	var out testenv.SyncBuffer
	if err := run(context.Background(), []string{"audit", "verify", "--offline", "--public-key", pub, "--checkpoints", file}, os.Getenv, &out, &out); err != nil {
		t.Fatalf("verify --offline = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "3 checkpoint(s), 0 invalid, key "+signer.KeyID()) {
		t.Errorf("output %q, want 3 checkpoints verified under key %s", out.String(), signer.KeyID())
	}

	// A checkpoint altered after signing, and another key, are both refused.
	b, _ := os.ReadFile(file)
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), `"seq":"20"`, `"seq":"21"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out = testenv.SyncBuffer{}
	err := run(context.Background(), []string{"audit", "verify", "--offline", "--public-key", pub, "--checkpoints", file}, os.Getenv, &out, &out)
	if err == nil || !strings.Contains(out.String(), "checkpoint seq 21: INVALID") {
		t.Errorf("verify of an altered checkpoint = %v\n%s\nwant seq 21 named invalid", err, out.String())
	}
	_, otherPub := keygen(t)
	out = testenv.SyncBuffer{}
	err = run(context.Background(), []string{"audit", "verify", "--offline", "--public-key", otherPub, "--checkpoints", file}, os.Getenv, &out, &out)
	if err == nil || !strings.Contains(out.String(), "signed with key "+signer.KeyID()) {
		t.Errorf("verify under another key = %v\n%s\nwant every checkpoint refused, naming key %s", err, out.String(), signer.KeyID())
	}
}

// fakeAudit answers VerifyChain in bounded pages, as the service does.
type fakeAudit struct {
	auditv1.UnimplementedAuditServiceServer
	reqs   []*auditv1.VerifyChainRequest
	tokens []string
}

func (f *fakeAudit) VerifyChain(ctx context.Context, req *auditv1.VerifyChainRequest) (*auditv1.VerifyChainResponse, error) {
	f.reqs = append(f.reqs, req)
	md, _ := metadata.FromIncomingContext(ctx)
	f.tokens = append(f.tokens, strings.Join(md.Get("dapr-api-token"), ","))
	switch req.GetFromSeq() {
	case 0:
		return &auditv1.VerifyChainResponse{Ok: true, RowsChecked: 100, FirstSeq: 1, LastSeq: 100, NextFromSeq: 101}, nil
	case 101:
		return &auditv1.VerifyChainResponse{Ok: true, RowsChecked: 100, FirstSeq: 101, LastSeq: 200, NextFromSeq: 201}, nil
	default:
		f := &auditv1.BrokenLink{Seq: 250, Reason: auditv1.BreakReason_BREAK_REASON_HEAD_SIGNATURE_INVALID, Month: "2026-12", Detail: "forged"}
		return &auditv1.VerifyChainResponse{RowsChecked: 50, FirstSeq: 201, LastSeq: 250, BrokenLink: f, Findings: []*auditv1.BrokenLink{f}}, nil
	}
}

func TestAuditVerifyPagesTheWholeLog(t *testing.T) {
	signer, pub := keygen(t)
	file, _ := checkpointFile(t, signer, 250)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &fakeAudit{}
	auditv1.RegisterAuditServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	var out testenv.SyncBuffer
	err = run(context.Background(), []string{"audit", "verify", "--addr", lis.Addr().String(), "--token", "s3cret", "--public-key", pub, "--checkpoints", file}, os.Getenv, &out, &out)
	if err == nil || !strings.Contains(out.String(), "250 rows checked") || !strings.Contains(out.String(), "HEAD_SIGNATURE_INVALID") {
		t.Errorf("verify = %v\n%s\nwant 250 rows over 3 calls and the finding printed, non-zero exit", err, out.String())
	}
	if len(fake.reqs) != 3 || fake.reqs[1].GetFromSeq() != 101 || fake.reqs[2].GetFromSeq() != 201 {
		t.Fatalf("requests %v, want from_seq 0, 101, 201", fake.reqs)
	}
	for i, r := range fake.reqs {
		if len(r.GetPublicKeys()) != 1 || len(r.GetCheckpoints()) != 1 {
			t.Errorf("request %v does not carry the auditor's key and checkpoint", r)
		}
		if fake.tokens[i] != "s3cret" {
			t.Errorf("request %d carried dapr-api-token %q, want the --token value", i, fake.tokens[i])
		}
	}
}
