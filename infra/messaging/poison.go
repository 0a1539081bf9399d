package messaging

import (
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// ObservedPoison wraps the poison queue's publisher (what Watermill's
// PoisonQueue middleware writes to): every message it stores is logged at
// WARN and counted in surge_poisoned_total{topic,handler}, so a poisoned
// message is never silent.
type ObservedPoison struct {
	message.Publisher
	logger   *slog.Logger
	poisoned *prometheus.CounterVec
}

// NewObservedPoison registers surge_poisoned_total on reg (when not nil).
func NewObservedPoison(pub message.Publisher, logger *slog.Logger, reg prometheus.Registerer) (*ObservedPoison, error) {
	p := &ObservedPoison{Publisher: pub, logger: logger, poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "surge", Name: "poisoned_total",
		Help: "Messages moved to the poison queue, by original topic and handler.",
	}, []string{"topic", "handler"})}
	if reg != nil {
		if err := reg.Register(p.poisoned); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *ObservedPoison) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		from, handler := m.Metadata.Get(middleware.PoisonedTopicKey), m.Metadata.Get(middleware.PoisonedHandlerKey)
		p.poisoned.WithLabelValues(from, handler).Inc()
		p.logger.Warn("message moved to the poison queue", "topic", from, "handler", handler,
			"message_id", m.UUID, "name", m.Metadata.Get(NameKey), "attempts", m.Metadata.Get(AttemptsKey),
			"reason", m.Metadata.Get(middleware.ReasonForPoisonedKey))
	}
	return nil
}
