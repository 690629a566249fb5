package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "verify" && args[0] != "keygen") {
		fmt.Fprintln(stderr, "usage: taskflow audit list|verify|keygen [flags]   (-h for flags)")
		return errUsage
	}
	if args[0] == "keygen" {
		return auditKeygen(stdout)
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", ".run/stack.json", "stack.json of a running `make run`")
	addr := fs.String("addr", "", "audit service gRPC address (default: the local stack's)")
	user := fs.String("user", "", "list: only this user's events")
	task := fs.String("task", "", "list: only this task's events")
	kinds := fs.String("kinds", "", "list: comma-separated kinds")
	limit := fs.Int("limit", 50, "list: at most this many events (newest first)")
	publicKey := fs.String("public-key", "", "verify: file with the Ed25519 public key to check signatures with (PEM or base64); default: the service's own keys")
	checkpoints := fs.String("checkpoints", "", "verify: file of checkpoints (protojson, one per line, as published on audit-checkpoints) to check offline and against the log")
	offline := fs.Bool("offline", false, "verify: only check the checkpoint file's signatures, without contacting the service")
	token := fs.String("token", os.Getenv("APP_API_TOKEN"), "the service's APP_API_TOKEN, sent as dapr-api-token when it is set (default $APP_API_TOKEN)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "verify" && *offline {
		return verifyOffline(*publicKey, *checkpoints, stdout)
	}
	target := *addr
	if target == "" {
		info, err := loadInfo(*stack)
		if err != nil {
			return err
		}
		target = info.Services["audit"].GRPC
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", *token)
	}
	client := auditv1.NewAuditServiceClient(conn)
	if args[0] == "verify" {
		return verifyOnline(ctx, client, *publicKey, *checkpoints, stdout)
	}
	page, n := "", 0
	for n < *limit {
		size := min(*limit-n, 100)
		r, err := client.ListEvents(ctx, &auditv1.ListEventsRequest{UserId: *user, TaskId: *task, Kinds: splitList(*kinds),
			PageSize: int32(size), PageToken: page})
		if err != nil {
			return fmt.Errorf("list events: %w", err)
		}
		for _, e := range r.GetEvents() {
			fmt.Fprintf(stdout, "%6d  %s  %-13s %-34s user=%s task=%s event=%s\n", e.GetSeq(),
				e.GetOccurredAt().AsTime().Format("2006-01-02T15:04:05Z"), e.GetTopic(), e.GetKind(), e.GetUserId(), e.GetTaskId(), e.GetEventId())
			n++
		}
		if page = r.GetNextPageToken(); page == "" {
			break
		}
	}
	fmt.Fprintf(stdout, "%d event(s)\n", n)
	return nil
}

// auditKeygen prints a fresh Ed25519 signing key (for AUDIT_SIGNING_KEY_FILE) and its
// public key (for auditors and AUDIT_VERIFY_KEYS).
func auditKeygen(stdout io.Writer) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# key id %s\n# private key (AUDIT_SIGNING_KEY_FILE; keep it out of the database and away from its owners):\n%s",
		auditsig.KeyID(pub), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	fmt.Fprintf(stdout, "# public key (auditors: taskflow audit verify --public-key):\n%s", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	return nil
}

// readCheckpoints reads a checkpoint file: one protojson taskflow.audit.v1.Checkpoint per line.
func readCheckpoints(path string) ([]*auditv1.Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*auditv1.Checkpoint
	for i, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		p := &auditv1.Checkpoint{}
		if err := protojson.Unmarshal([]byte(line), p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func readPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := auditsig.ParsePublicKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// verifyOffline checks every checkpoint's signature in the file with the public key.
func verifyOffline(keyPath, cpPath string, stdout io.Writer) error {
	if keyPath == "" || cpPath == "" {
		return fmt.Errorf("--offline needs --public-key and --checkpoints")
	}
	pub, err := readPublicKey(keyPath)
	if err != nil {
		return err
	}
	cps, err := readCheckpoints(cpPath)
	if err != nil {
		return err
	}
	keys, bad := auditsig.NewKeyRing(pub), 0
	for _, p := range cps {
		cp, err := auditsig.CheckpointFromProto(p)
		if err == nil {
			err = auditsig.VerifyCheckpoint(cp, keys)
		}
		if err != nil {
			bad++
			fmt.Fprintf(stdout, "checkpoint seq %d: INVALID: %v\n", p.GetSeq(), err)
		}
	}
	fmt.Fprintf(stdout, "%d checkpoint(s), %d invalid, key %s\n", len(cps), bad, auditsig.KeyID(pub))
	if bad > 0 {
		return fmt.Errorf("%d checkpoint(s) do not verify", bad)
	}
	return nil
}

// verifyOnline pages VerifyChain through the whole log, passing the auditor's key and
// checkpoints (their signatures are checked here first), and prints every finding.
func verifyOnline(ctx context.Context, client auditv1.AuditServiceClient, keyPath, cpPath string, stdout io.Writer) error {
	req := &auditv1.VerifyChainRequest{}
	if keyPath != "" {
		pub, err := readPublicKey(keyPath)
		if err != nil {
			return err
		}
		req.PublicKeys = [][]byte{pub}
	}
	var cps []*auditv1.Checkpoint
	if cpPath != "" {
		var err error
		if cps, err = readCheckpoints(cpPath); err != nil {
			return err
		}
	}
	var rows uint64
	var findings []*auditv1.BrokenLink
	var last *auditv1.VerifyChainResponse
	for {
		if req.GetFromSeq() == 0 || len(cps) > 0 {
			// The checkpoints go with the call that reaches the end; send them each time
			// in slices so none is lost when the server bounds the call.
			req.Checkpoints = cps[:min(len(cps), 1000)]
		}
		r, err := client.VerifyChain(ctx, req)
		if err != nil {
			return fmt.Errorf("verify chain from seq %d: %w", req.GetFromSeq(), err)
		}
		rows += r.GetRowsChecked()
		findings = append(findings, r.GetFindings()...)
		last = r
		if r.GetNextFromSeq() == 0 {
			if len(cps) > 1000 {
				cps = cps[1000:]
				req.FromSeq, req.ToSeq = r.GetLastSeq()+1, 0
				continue
			}
			break
		}
		req.FromSeq = r.GetNextFromSeq()
		fmt.Fprintf(stdout, "verified through seq %d (%d rows so far)\n", r.GetLastSeq(), rows)
	}
	for _, f := range findings {
		b, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(f)
		fmt.Fprintln(stdout, "FINDING", string(b))
	}
	fmt.Fprintf(stdout, "%d rows checked, %d checkpoint(s) given, keys %v: ", rows, len(cps), last.GetKeyIds())
	if len(findings) > 0 {
		fmt.Fprintln(stdout, "NOT OK")
		return fmt.Errorf("the audit log does not verify: %d finding(s)", len(findings))
	}
	fmt.Fprintln(stdout, "OK")
	return nil
}
