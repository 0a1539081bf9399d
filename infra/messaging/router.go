package messaging

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/surge-platform/surge/infra/fault"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/internal/poison"
)

// PoisonTopic and AttemptsKey are the poison queue's conventions (internal/poison).
const (
	PoisonTopic = poison.Topic
	AttemptsKey = poison.AttemptsKey
)

// RetryConfig is the exponential backoff for transient errors.
type RetryConfig struct {
	MaxRetries      int
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsedTime  time.Duration
}

// NewRouter builds the Watermill router every handler runs on. Middleware,
// outermost first:
//
//	CorrelationID  copies the correlation id onto produced messages
//	PoisonQueue    stores a message whose error survived the retries
//	Retry          retries transient errors with exponential backoff;
//	               permanent ones (fault.IsPermanent) fall through at once
//	countAttempts  records how many times the handler ran (shown in the queue)
//	Recoverer      turns a panic into an error, so it is retried and poisoned
//
// A poison publish that fails (the queue's database is down) returns the
// error, so the message is nacked and redelivered: never dropped.
func NewRouter(retry RetryConfig, closeTimeout time.Duration, poison message.Publisher, logger watermill.LoggerAdapter) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: closeTimeout}, logger)
	if err != nil {
		return nil, err
	}
	poisonMiddleware, err := middleware.PoisonQueueWithFilter(poison, PoisonTopic, shouldPoison)
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(
		middleware.CorrelationID,
		poisonMiddleware,
		middleware.Retry{
			MaxRetries:          retry.MaxRetries,
			InitialInterval:     retry.InitialInterval,
			MaxInterval:         retry.MaxInterval,
			MaxElapsedTime:      retry.MaxElapsedTime,
			Multiplier:          2,
			RandomizationFactor: 0.2,
			ShouldRetry:         func(p middleware.RetryParams) bool { return !fault.IsPermanent(p.Err) },
			Logger:              logger,
		}.Middleware,
		countAttempts,
		middleware.Recoverer,
	)
	return router, nil
}

func countAttempts(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		n, _ := strconv.Atoi(msg.Metadata.Get(AttemptsKey))
		msg.Metadata.Set(AttemptsKey, strconv.Itoa(n+1))
		return h(msg)
	}
}

// requireCommand poisons any message on a command topic that is not the
// command its handler expects. The cqrs processor would otherwise ack and
// drop it silently, since command topics carry one command type each.
func requireCommand(name string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			if got := msg.Metadata.Get(NameKey); got != name {
				return nil, fault.Permanent(fmt.Errorf("unexpected message type %q on a %s topic", got, name))
			}
			return h(msg)
		}
	}
}

// TopicFor is the topology's route of a wire name to its topic.
type TopicFor func(wireName string) (string, error)

// SubscriberFactory creates a subscriber for a consumer group.
type SubscriberFactory func(consumerGroup string) (message.Subscriber, error)

// NewCommandBus sends commands to their declared Kafka topics, keyed by the
// aggregate they address, carrying the caller's correlation id.
func NewCommandBus(pub message.Publisher, topicFor TopicFor) (*cqrs.CommandBus, error) {
	return cqrs.NewCommandBusWithConfig(pub, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return topicFor(p.CommandName)
		},
		OnSend: func(p cqrs.CommandBusOnSendParams) error {
			if k, ok := p.Command.(interface{ PartitionKey() string }); ok {
				p.Message.Metadata.Set(kafka.PartitionKeyMetadata, k.PartitionKey())
			}
			if id := CorrelationID(p.Message.Context()); id != "" {
				middleware.SetCorrelationID(id, p.Message)
			} else {
				middleware.SetCorrelationID(watermill.NewShortUUID(), p.Message)
			}
			return nil
		},
		Marshaler: Marshaler{},
	})
}

// AddCommandHandlers registers command handlers on the router. Each handler
// is its own consumer group, named after the handler.
func AddCommandHandlers(router *message.Router, subscribers SubscriberFactory, logger watermill.LoggerAdapter, topicFor TopicFor, handlers ...cqrs.CommandHandler) error {
	processor, err := cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return topicFor(p.CommandName)
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return subscribers(p.HandlerName)
		},
		Marshaler: Marshaler{},
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	for _, h := range handlers {
		rh, err := processor.AddHandler(h)
		if err != nil {
			return err
		}
		rh.AddMiddleware(requireCommand(WireName(h.NewCommand())))
	}
	return nil
}

// EventGroup is a projection or reaction: a named set of event handlers that
// share one subscription (and so see one topic's events in order).
type EventGroup struct {
	Name     string // the consumer group; never rename it
	Topic    string
	Handlers []cqrs.GroupEventHandler
}

// AddEventGroups registers event groups on the router. Events a group has no
// handler for are acked and skipped.
func AddEventGroups(router *message.Router, subscribers SubscriberFactory, logger watermill.LoggerAdapter, groups ...EventGroup) error {
	topics := map[string]string{}
	for _, g := range groups {
		topics[g.Name] = g.Topic
	}
	processor, err := cqrs.NewEventGroupProcessorWithConfig(router, cqrs.EventGroupProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.EventGroupProcessorGenerateSubscribeTopicParams) (string, error) {
			return topics[p.EventGroupName], nil
		},
		SubscriberConstructor: func(p cqrs.EventGroupProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return subscribers(p.EventGroupName)
		},
		AckOnUnknownEvent: true,
		Marshaler:         Marshaler{},
		Logger:            logger,
	})
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := processor.AddHandlersGroup(g.Name, g.Handlers...); err != nil {
			return err
		}
	}
	return nil
}
