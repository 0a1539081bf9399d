package app_test

import (
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surge-platform/surge/infra/config"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/internal/app"
	"github.com/surge-platform/surge/internal/flow"
	"github.com/surge-platform/surge/internal/push"
)

// docker-compose.yml creates Kafka's topics for real Apache Kafka by hand
// (the kafka-topics service): every topic a flow declares must be there,
// with the same partitions and retention, and nothing else.
func TestComposeCreatesEveryDeclaredTopic(t *testing.T) {
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	created := map[string][2]int64{}
	for _, m := range regexp.MustCompile(`(?m)^\s+create (\S+)\s+(\d+)\s+(-?\d+)\s*$`).FindAllStringSubmatch(string(compose), -1) {
		partitions, _ := strconv.ParseInt(m[2], 10, 32)
		retention, _ := strconv.ParseInt(m[3], 10, 64)
		created[m[1]] = [2]int64{partitions, retention}
	}
	declared := map[string]bool{}
	for _, topic := range app.Topics() {
		declared[topic.Name] = true
		want := [2]int64{int64(topic.Partitions), topic.Retention.Milliseconds()}
		if topic.Retention < 0 {
			want[1] = -1
		}
		got, ok := created[topic.Name]
		if !ok {
			t.Errorf("docker-compose.yml does not create %s (partitions %d, retention.ms %d): add `create %s %d %d`", topic.Name, want[0], want[1], topic.Name, want[0], want[1])
			continue
		}
		if got != want {
			t.Errorf("docker-compose.yml creates %s with partitions/retention.ms %v, the module declares %v", topic.Name, got, want)
		}
	}
	for name := range created {
		if !declared[name] {
			t.Errorf("docker-compose.yml creates %s, which no flow declares", name)
		}
	}
	if len(created) == 0 {
		t.Fatal("found no topic creation in docker-compose.yml")
	}
}

// Every event a group applies travels on the topic the group subscribes
// to, every command handler's command is routed to a command topic, and
// every event topic's messages are events the store can decode.
func TestEveryHandlerSubscribesToTheTopicItsMessagesAreRoutedTo(t *testing.T) {
	topology, err := kafka.NewTopology(app.Topics()...)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]kafka.Kind{}
	for _, topic := range topology.Topics() {
		kinds[topic.Name] = topic.Kind
		if topic.Kind != kafka.Commands && topic.Kind != kafka.Events {
			t.Errorf("topic %s has no kind", topic.Name)
		}
		if topic.Kind == kafka.Commands && len(topic.Messages) != 1 {
			t.Errorf("command topic %s carries %d message types; one each, so its handler can poison anything else", topic.Name, len(topic.Messages))
		}
	}
	hub, _ := push.NewHub(nil)
	groups, commands := 0, 0
	for _, m := range app.Flows() {
		r := config.NewReader(config.Source{})
		m.Configure(r)
		if err := r.Err(); err != nil {
			t.Fatalf("%s: default configuration: %v", m.Name(), err)
		}
		// Every role but the API's and push's, which hold live subscriptions.
		parts, err := m.Build(&flow.Platform{
			Roles:  flow.Roles{Commands: true, Projections: true, Forwarder: true},
			Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Hub: hub,
		})
		if err != nil {
			t.Fatalf("%s: build: %v", m.Name(), err)
		}
		for _, h := range parts.Commands {
			commands++
			name := messaging.WireName(h.NewCommand())
			topic, err := topology.TopicFor(name)
			if err != nil || kinds[topic] != kafka.Commands {
				t.Errorf("%s: %s handles %s, routed to %q (%v), want a command topic", m.Name(), h.HandlerName(), name, topic, err)
			}
		}
		for _, g := range parts.Groups {
			groups++
			if len(g.Handlers) == 0 {
				t.Errorf("%s: group %s has no handler", m.Name(), g.Name)
			}
			for _, h := range g.Handlers {
				name := messaging.WireName(h.NewEvent())
				topic, err := topology.TopicFor(name)
				if err != nil || topic != g.Topic {
					t.Errorf("%s: group %s subscribes to %s but applies %s, routed to %q (%v)", m.Name(), g.Name, g.Topic, name, topic, err)
				}
			}
		}
	}
	if groups == 0 || commands == 0 {
		t.Fatalf("found %d groups and %d command handlers", groups, commands)
	}
}

// Every flow's settings have defaults that validate.
func TestDefaultConfigurationLoads(t *testing.T) {
	cfg, err := app.LoadConfig(config.Source{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8080" || cfg.ShutdownTimeout != 20*time.Second {
		t.Fatalf("defaults: %+v", cfg)
	}
}
