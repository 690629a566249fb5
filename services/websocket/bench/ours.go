package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

func update(n, u int) *eventsv1.TaskUpdate {
	return &eventsv1.TaskUpdate{EventId: "b-" + strconv.Itoa(n), UserId: "user-" + strconv.Itoa(u),
		Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{Id: "n", Title: "Task due soon", Body: "Water the plants"}}}
}

func hs256(sub string) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
}

// service is the websocket service binary, driven over gRPC OnTopicEvent as daprd would.
type service struct {
	o      options
	cmd    *exec.Cmd
	tokens []string
	gc     *grpc.ClientConn
	cb     runtimev1.AppCallbackClient
	dialer websocket.Dialer
}

func startService(ctx context.Context, o options) (*service, error) {
	conns := o.users * o.perUser
	cmd := exec.CommandContext(ctx, o.bin)
	cmd.Env = append(os.Environ(), "GRPC_ADDR="+o.grpcAddr, "HTTP_ADDR="+o.httpAddr, "METRICS_ADDR=off",
		"LOG_LEVEL=warn", "JWT_HS256_SECRET="+secret, "MAX_CONNS="+strconv.Itoa(conns+100),
		"MAX_CONNS_PER_USER="+strconv.Itoa(o.perUser+5))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start service: %w", err)
	}
	s := &service{o: o, cmd: cmd, dialer: websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 256, HandshakeTimeout: 30 * time.Second}}
	if err := waitHTTP(ctx, http.MethodGet, "http://"+o.httpAddr+"/readyz", nil, http.StatusOK); err != nil {
		s.stop()
		return nil, err
	}
	for u := range o.users {
		t, err := hs256("user-" + strconv.Itoa(u))
		if err != nil {
			s.stop()
			return nil, err
		}
		s.tokens = append(s.tokens, t)
	}
	gc, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.gc, s.cb = gc, runtimev1.NewAppCallbackClient(gc)
	return s, nil
}

func (s *service) pid() int { return s.cmd.Process.Pid }

func (s *service) stop() {
	if s.gc != nil {
		s.gc.Close()
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func (s *service) dial(ctx context.Context, u int) (*websocket.Conn, error) {
	c, _, err := s.dialer.DialContext(ctx, "ws://"+s.o.httpAddr+"/ws", http.Header{"Authorization": {"Bearer " + s.tokens[u]}})
	return c, err
}

func (s *service) publish(ctx context.Context, n, u int) error {
	up := update(n, u)
	data, err := proto.Marshal(up)
	if err != nil {
		return err
	}
	resp, err := s.cb.OnTopicEvent(ctx, &runtimev1.TopicEventRequest{
		Id: up.GetEventId(), Source: "bench", Type: wire.TypeUpdateNotification, SpecVersion: "1.0",
		DataContentType: wire.ContentType, Data: data, Topic: wire.TopicTaskUpdates, PubsubName: localrun.PubsubName,
	})
	if err != nil {
		return err
	}
	if resp.GetStatus() != runtimev1.TopicEventResponse_SUCCESS {
		return fmt.Errorf("OnTopicEvent %s: %v", up.GetEventId(), resp.GetStatus())
	}
	return nil
}

// pipeline is the service's own daprd (subscriber) and a publisher daprd on an in-process
// Kafka broker: publish over daprd HTTP -> Kafka -> daprd -> gRPC -> service -> WebSocket.
type pipeline struct {
	broker *kfake.Cluster
	procs  []*localrun.Process
	pubURL string
	client *http.Client
}

func startPipeline(ctx context.Context, o options, dir string) (*pipeline, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(8), kfake.SeedTopics(8, wire.TopicTaskUpdates))
	if err != nil {
		return nil, fmt.Errorf("start kafka broker: %w", err)
	}
	p := &pipeline{broker: c, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	res := filepath.Join(dir, "resources")
	if err := os.MkdirAll(res, 0o755); err != nil {
		p.stop()
		return nil, err
	}
	files := map[string]string{
		"pubsub.yaml":     localrun.PubsubComponent(c.ListenAddrs()[0], "websocket-service"),
		"resiliency.yaml": localrun.ResiliencyPolicy(3, 100*time.Millisecond),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(res, name), []byte(text), 0o644); err != nil {
			p.stop()
			return nil, err
		}
	}
	grpcPort, _ := strconv.Atoi(o.grpcAddr[strings.LastIndexByte(o.grpcAddr, ':')+1:])
	sidecars := []localrun.Daprd{
		{Bin: o.daprd, AppID: "websocket-service", AppPort: grpcPort, ResourcesDir: res, LogLevel: "warn",
			HTTPPort: o.daprPort, GRPCPort: o.daprPort + 1, InternalGRPCPort: o.daprPort + 2, MetricsPort: o.daprPort + 3},
		{Bin: o.daprd, AppID: "bench-publisher", ResourcesDir: res, LogLevel: "warn",
			HTTPPort: o.daprPort + 10, GRPCPort: o.daprPort + 11, InternalGRPCPort: o.daprPort + 12, MetricsPort: o.daprPort + 13},
	}
	for _, d := range sidecars {
		proc, err := localrun.Start(d.AppID+"-daprd", d.Command(), filepath.Join(dir, d.AppID+"-daprd.log"))
		if err != nil {
			p.stop()
			return nil, err
		}
		p.procs = append(p.procs, proc)
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = d.WaitReady(wctx, proc)
		cancel()
		if err != nil {
			p.stop()
			return nil, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !sidecars[0].Subscribed(ctx, wire.TopicTaskUpdates) {
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("daprd did not subscribe to task-updates:\n%s", p.procs[0].Tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.pubURL = sidecars[1].HTTPAddr() + "/v1.0/publish/" + localrun.PubsubName + "/task-updates"
	return p, nil
}

func (p *pipeline) pids() []int {
	var pids []int
	for _, proc := range p.procs {
		pids = append(pids, proc.Pid())
	}
	return pids
}

func (p *pipeline) stop() {
	for _, proc := range p.procs {
		proc.Stop(5 * time.Second)
	}
	p.broker.Close()
}

// publish sends update n as binary protobuf through the publisher daprd (key = user).
func (p *pipeline) publish(ctx context.Context, n, u int) error {
	up := update(n, u)
	data, err := proto.Marshal(up)
	if err != nil {
		return err
	}
	url := p.pubURL + "?metadata.cloudevent.type=taskflow.update.notification.v1&metadata.cloudevent.id=" +
		up.GetEventId() + "&metadata.partitionKey=" + up.GetUserId()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(data)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("daprd publish %s: HTTP %d", up.GetEventId(), resp.StatusCode)
	}
	return nil
}
