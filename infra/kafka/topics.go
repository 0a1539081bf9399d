// Package kafka is the Kafka adapter: topics, Sarama settings, Watermill
// publishers and subscribers, and the embedded Kafka-protocol broker (kfake)
// used for local runs and tests.
package kafka

import (
	"fmt"
	"time"
)

// Message is a command or event type a topic carries: its versioned wire
// name routes it ("coupon.issued.v1").
type Message interface{ WireName() string }

// Topic is one Kafka topic with the partition count and retention it is
// created with, and the messages it carries. Flows declare their topics in
// their module (internal/flows); docker-compose.yml creates the same ones
// (a test checks it).
type Topic struct {
	Name       string
	Kind       Kind
	Partitions int32
	Retention  time.Duration // -1: keep forever (event topics are replayable)
	Messages   []Message     // zero values of the commands or events on it
}

// Kind is what a topic carries.
type Kind int

const (
	// Commands: each command topic carries one command type, so its single
	// handler can poison anything else at once. Kept for a week.
	Commands Kind = iota + 1
	// Events: facts recorded in the event store, kept forever (replayable).
	Events
)

// Topology is every topic of the platform and the route of every wire name.
type Topology struct {
	topics []Topic
	routes map[string]string
}

// NewTopology indexes topics; a topic declared twice or a message routed to
// two topics is an error.
func NewTopology(topics ...Topic) (*Topology, error) {
	t := &Topology{routes: map[string]string{}}
	seen := map[string]bool{}
	for _, topic := range topics {
		if seen[topic.Name] {
			return nil, fmt.Errorf("topic %s is declared twice", topic.Name)
		}
		seen[topic.Name] = true
		for _, m := range topic.Messages {
			name := m.WireName()
			if other, ok := t.routes[name]; ok {
				return nil, fmt.Errorf("%s is routed to both %s and %s", name, other, topic.Name)
			}
			t.routes[name] = topic.Name
		}
		t.topics = append(t.topics, topic)
	}
	return t, nil
}

// TopicFor returns the topic a command or event with this wire name goes to.
func (t *Topology) TopicFor(wireName string) (string, error) {
	topic, ok := t.routes[wireName]
	if !ok {
		return "", fmt.Errorf("no topic declared for %q", wireName)
	}
	return topic, nil
}

// Topics lists the declared topics.
func (t *Topology) Topics() []Topic { return append([]Topic(nil), t.topics...) }

// EventTypes lists the messages of every event topic: what the event
// store decodes.
func (t *Topology) EventTypes() []Message {
	var out []Message
	for _, topic := range t.topics {
		if topic.Kind == Events {
			out = append(out, topic.Messages...)
		}
	}
	return out
}

// Names lists the names of the declared topics.
func (t *Topology) Names() []string {
	names := make([]string, len(t.topics))
	for i, topic := range t.topics {
		names[i] = topic.Name
	}
	return names
}
