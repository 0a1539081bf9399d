package flow

import (
	"context"
	"fmt"
	"reflect"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/surge-platform/surge/domain"
)

// Dispatcher applies stored events to the handlers of a group, so the
// catch-up, `surge rebuild` and `surge replay` run the very handlers the
// router runs (no second list of what a projection applies).
type Dispatcher struct {
	name   string
	byType map[reflect.Type]cqrs.GroupEventHandler
}

// NewDispatcher indexes handlers by the event type each applies.
func NewDispatcher(name string, handlers []cqrs.GroupEventHandler) *Dispatcher {
	d := &Dispatcher{name: name, byType: map[reflect.Type]cqrs.GroupEventHandler{}}
	for _, h := range handlers {
		d.byType[EventType(h)] = h
	}
	return d
}

// EventType is the (non-pointer) event type a handler applies.
func EventType(h cqrs.GroupEventHandler) reflect.Type {
	t := reflect.TypeOf(h.NewEvent())
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// Name is the group's name.
func (d *Dispatcher) Name() string { return d.name }

// Apply hands e to the handler of its type; events no handler applies are
// skipped, as the router acks them.
func (d *Dispatcher) Apply(ctx context.Context, e domain.Event) error {
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	h, ok := d.byType[v.Type()]
	if !ok {
		return nil
	}
	ptr := reflect.New(v.Type())
	ptr.Elem().Set(v)
	if err := h.Handle(ctx, ptr.Interface()); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return nil
}
