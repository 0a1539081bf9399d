package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/infra/fault"
)

func TestWhatIsPermanent(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("connection refused"), false},
		{"cancelled", context.Canceled, false},
		{"marked", fault.Permanent(errors.New("undecodable")), true},
		{"marked and wrapped", fmt.Errorf("handle: %w", fault.Permanent(errors.New("x"))), true},
		{"domain invalid", domain.Invalid("rule", "broken"), true},
		{"domain conflict", domain.Conflict("dup", "dup"), false},
		{"invalid utf8 (22021)", fmt.Errorf("append: %w", &pgconn.PgError{Code: "22021"}), true},
		{"check violation (23514)", &pgconn.PgError{Code: "23514", ConstraintName: "c"}, true},
		{"serialization failure (40001)", &pgconn.PgError{Code: "40001"}, false},
		{"admin shutdown (57P01)", &pgconn.PgError{Code: "57P01"}, false},
	}
	for _, c := range cases {
		if got := fault.IsPermanent(c.err); got != c.want {
			t.Errorf("%s: IsPermanent = %v, want %v", c.name, got, c.want)
		}
	}
	if fault.Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	err := fmt.Errorf("x: %w", &pgconn.PgError{Code: "23514", ConstraintName: "quota"})
	if fault.SQLState(err) != "23514" || fault.Constraint(err) != "quota" || fault.SQLState(errors.New("x")) != "" {
		t.Errorf("SQLState/Constraint = %q/%q", fault.SQLState(err), fault.Constraint(err))
	}
}
