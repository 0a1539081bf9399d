package kafka

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// StartBroker starts the in-process Kafka-protocol broker (kfake) on addr
// (127.0.0.1 only; port 0 picks a free one) with all declared topics created.
// It is for local runs and tests; production uses Apache Kafka.
func StartBroker(addr string, topics []Topic) (*kfake.Cluster, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", addr, err)
	}
	if host != "" && host != "127.0.0.1" && host != "localhost" {
		return nil, fmt.Errorf("the embedded broker listens on 127.0.0.1 only, not %q", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("broker port %q: %w", portStr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("surge-local"),
	}
	for _, t := range topics {
		opts = append(opts, kfake.SeedTopics(t.Partitions, t.Name))
	}
	return kfake.NewCluster(opts...)
}
