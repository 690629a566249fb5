// Package devstack runs the whole system locally on embedded defaults — the embedded
// Kafka-protocol broker, a throwaway PostgreSQL, mailpit as SMTP catcher, a Task API
// development double, and the four services each behind its own daprd — and plays the demo
// scenario against it.
package devstack

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

// Service names, as in services/<name>, and their Dapr app-ids.
var Services = []struct{ Name, AppID string }{
	{"notification", "notification-service"},
	{"recurring-task", "recurring-task-service"},
	{"audit", "audit-service"},
	{"websocket", "websocket-service"},
}

// AppPorts are the ports of one app and its sidecar.
type AppPorts struct {
	GRPC         int `json:"grpc"`
	Metrics      int `json:"metrics"`
	HTTP         int `json:"http,omitempty"`
	DaprHTTP     int `json:"dapr_http"`
	DaprGRPC     int `json:"dapr_grpc"`
	DaprInternal int `json:"-"`
	DaprMetrics  int `json:"-"`
}

// Ports is the stack's port plan, all on 127.0.0.1, derived from one base port.
type Ports struct {
	Broker   int                 `json:"broker"`
	Postgres int                 `json:"postgres"`
	SMTP     int                 `json:"smtp"`
	MailUI   int                 `json:"mail_ui"`
	TaskAPI  AppPorts            `json:"task_api"`
	Webhook  int                 `json:"webhook"`
	Console  int                 `json:"console"`
	Apps     map[string]AppPorts `json:"apps"`
}

// DefaultPortBase keeps every port below the ephemeral range (32768+).
const DefaultPortBase = 17000

// PlanPorts lays the ports out from base: base+0..9 for shared parts (base+5: the console), base+10*(i+1) for
// service i (and base+50 for the Task API double).
func PlanPorts(base int) Ports {
	app := func(b int) AppPorts {
		return AppPorts{GRPC: b, Metrics: b + 1, DaprHTTP: b + 2, DaprGRPC: b + 3, DaprInternal: b + 4, DaprMetrics: b + 5}
	}
	p := Ports{Broker: base, Postgres: base + 1, SMTP: base + 2, MailUI: base + 3, Webhook: base + 4,
		Console: base + 5, TaskAPI: app(base + 50), Apps: map[string]AppPorts{}}
	for i, s := range Services {
		a := app(base + 10*(i+1))
		if s.Name == "websocket" {
			a.HTTP = base + 10*(i+1) + 6
		}
		p.Apps[s.Name] = a
	}
	return p
}

// all lists every port with its purpose, for the free-port check.
func (p Ports) all() map[int]string {
	m := map[int]string{
		p.Broker: "Kafka broker", p.Postgres: "PostgreSQL", p.SMTP: "SMTP catcher", p.MailUI: "mail web UI",
		p.Webhook: "demo webhook receiver", p.Console: "console",
	}
	add := func(name string, a AppPorts) {
		m[a.GRPC] = name + " gRPC"
		m[a.Metrics] = name + " metrics"
		m[a.DaprHTTP] = name + " daprd HTTP"
		m[a.DaprGRPC] = name + " daprd gRPC"
		m[a.DaprInternal] = name + " daprd internal gRPC"
		m[a.DaprMetrics] = name + " daprd metrics"
		if a.HTTP != 0 {
			m[a.HTTP] = name + " HTTP"
		}
	}
	add("task-api double", p.TaskAPI)
	for name, a := range p.Apps {
		add(name, a)
	}
	return m
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// PortBlock is how many ports from the base a stack may use: PlanPorts takes base..base+55,
// extra apps such as the load tool's no-op subscribers base+60..base+79.
const PortBlock = 80

// FreePortBase picks a base in [20000, 31000) whose whole block is free right now, so tests
// can run stacks side by side below the ephemeral range. A base is handed out once on this
// machine while the process that got it lives (localrun.Claim): two test binaries of `go
// test ./...` run at once, and a stack's ports are bound one by one as its parts start.
func FreePortBase() (int, error) {
	for range 100 {
		base := 20000 + 100*rand.IntN(110)
		if !localrun.Claim("block-" + strconv.Itoa(base)) {
			continue
		}
		free := true
		for p := base; p < base+PortBlock && free; p++ {
			free = localrun.CheckPortFree(p, "") == nil
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free block of %d ports between 20000 and 31000", PortBlock)
}
