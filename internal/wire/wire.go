// Package wire is the contract between TaskFlow's producers and our four services: topic
// names, dead-letter topic names, CloudEvent types, partition keys, the event interface and
// the publish metadata (README "Wire format"). Every publisher and subscriber in this module
// takes these from here, so renaming a topic or a type is a one-line change.
package wire

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// The topics. Producers we do not own (the Task API) publish the first three; the audit
// service publishes its signed checkpoints to the fourth.
const (
	TopicTaskEvents       = "task-events"
	TopicReminders        = "reminders"
	TopicTaskUpdates      = "task-updates"
	TopicAuditCheckpoints = "audit-checkpoints"
)

// The subscribers, as named in their dead-letter topics (<topic>-<subscriber>-dlq).
const (
	SubscriberAudit        = "audit"
	SubscriberNotification = "notification"
	SubscriberRecurring    = "recurring"
	SubscriberWebsocket    = "websocket"
)

// DeadLetter returns the dead-letter topic of subscriber's subscription to topic.
func DeadLetter(topic, subscriber string) string { return topic + "-" + subscriber + deadLetterSuffix }

// SplitDeadLetter returns the event topic and the subscriber of a dead-letter topic
// <topic>-<subscriber>-dlq whose topic is one of EventTopics.
func SplitDeadLetter(name string) (topic, subscriber string, ok bool) {
	for _, t := range EventTopics {
		if s, found := strings.CutPrefix(name, t.Name+"-"); found {
			if s, found = strings.CutSuffix(s, deadLetterSuffix); found && s != "" {
				return t.Name, s, true
			}
		}
	}
	return "", "", false
}

// The dead-letter topics of the services' default subscriptions (one per subscription).
const (
	DeadLetterTaskEventsAudit       = TopicTaskEvents + "-" + SubscriberAudit + deadLetterSuffix
	DeadLetterTaskEventsRecurring   = TopicTaskEvents + "-" + SubscriberRecurring + deadLetterSuffix
	DeadLetterRemindersAudit        = TopicReminders + "-" + SubscriberAudit + deadLetterSuffix
	DeadLetterRemindersNotification = TopicReminders + "-" + SubscriberNotification + deadLetterSuffix
	DeadLetterTaskUpdatesAudit      = TopicTaskUpdates + "-" + SubscriberAudit + deadLetterSuffix
	DeadLetterTaskUpdatesWebsocket  = TopicTaskUpdates + "-" + SubscriberWebsocket + deadLetterSuffix

	deadLetterSuffix = "-dlq"
)

// Subscription is one service's subscription to one topic.
type Subscription struct {
	Service    string // the directory under services/, e.g. "recurring-task"
	Topic      string
	DeadLetter string
}

// Subscriptions lists every subscription of the four services, by topic.
var Subscriptions = []Subscription{
	{"audit", TopicTaskEvents, DeadLetterTaskEventsAudit},
	{"recurring-task", TopicTaskEvents, DeadLetterTaskEventsRecurring},
	{"audit", TopicReminders, DeadLetterRemindersAudit},
	{"notification", TopicReminders, DeadLetterRemindersNotification},
	{"audit", TopicTaskUpdates, DeadLetterTaskUpdatesAudit},
	{"websocket", TopicTaskUpdates, DeadLetterTaskUpdatesWebsocket},
}

// DeadLetterTopics returns the dead-letter topic of every subscription, in Subscriptions order.
func DeadLetterTopics() []string {
	out := make([]string, 0, len(Subscriptions))
	for _, s := range Subscriptions {
		out = append(out, s.DeadLetter)
	}
	return out
}

// SubscribedTopics returns the topics service (a directory under services/) subscribes to.
func SubscribedTopics(service string) []string {
	var out []string
	for _, s := range Subscriptions {
		if s.Service == service {
			out = append(out, s.Topic)
		}
	}
	return out
}

// Event is what every event payload is: a protobuf message carrying the producer-set
// event_id, the idempotency key consumers dedupe on (the CloudEvent id is not one).
type Event interface {
	proto.Message
	GetEventId() string
}

// Topic is what the wire format says about an event topic: its message type and the
// partition key its producers set (same key, same partition, so per-key order holds).
type Topic struct {
	Name string
	New  func() Event
	Key  func(Event) string
}

// EventTopics are the topics carrying TaskFlow events, each with its message type.
var EventTopics = []Topic{
	{TopicTaskEvents, func() Event { return &eventsv1.TaskEvent{} }, func(m Event) string { return TaskEventKey(m.(*eventsv1.TaskEvent)) }},
	{TopicReminders, func() Event { return &eventsv1.ReminderEvent{} }, func(m Event) string { return ReminderKey(m.(*eventsv1.ReminderEvent)) }},
	{TopicTaskUpdates, func() Event { return &eventsv1.TaskUpdate{} }, func(m Event) string { return UpdateKey(m.(*eventsv1.TaskUpdate)) }},
}

// EventTopicNames returns the names of EventTopics.
func EventTopicNames() []string {
	out := make([]string, len(EventTopics))
	for i, t := range EventTopics {
		out[i] = t.Name
	}
	return out
}

// LookupTopic returns the event topic called name.
func LookupTopic(name string) (Topic, bool) {
	i := slices.IndexFunc(EventTopics, func(t Topic) bool { return t.Name == name })
	if i < 0 {
		return Topic{}, false
	}
	return EventTopics[i], true
}
