package postgres

import (
	"context"

	"github.com/surge-platform/surge/domain/price"
)

// PriceComparisonRepository stores each price comparison as its own event
// stream (price.ComparisonStreamID), appended at expected version 0: a
// redelivered command conflicts harmlessly instead of recording twice.
type PriceComparisonRepository struct{ store *EventStore }

// NewPriceComparisonRepository creates the repository on store.
func NewPriceComparisonRepository(store *EventStore) *PriceComparisonRepository {
	return &PriceComparisonRepository{store: store}
}

func (r *PriceComparisonRepository) LoadComparison(ctx context.Context, productID, comparisonID string) (*price.Comparison, error) {
	history, err := r.store.Load(ctx, price.ComparisonStreamID(productID, comparisonID))
	if err != nil {
		return nil, err
	}
	return price.LoadComparison(history), nil
}

func (r *PriceComparisonRepository) SaveComparison(ctx context.Context, c *price.Comparison) error {
	_, err := r.store.Append(ctx, price.ComparisonStreamID(c.ProductID, c.ID), c.Version(), c.Changes())
	return err
}
