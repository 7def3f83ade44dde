package secrets

import (
	"context"
	"errors"
	"testing"
)

func TestEnv(t *testing.T) {
	t.Setenv("BMTEST_SECRET_pw", "hunter2")
	t.Setenv("BMTEST_SECRET_empty", "")
	e := &Env{Prefix: "BMTEST_SECRET_"}
	for _, tc := range []struct {
		name, want string
		notFound   bool
	}{
		{"pw", "hunter2", false},
		{"empty", "", false},
		{"missing", "", true},
		{"", "", true},
	} {
		got, err := e.Get(context.Background(), tc.name)
		if got != tc.want || errors.Is(err, ErrNotFound) != tc.notFound || (err != nil) != tc.notFound {
			t.Errorf("Get(%q) = %q, %v", tc.name, got, err)
		}
	}
	if _, err := e.Get(context.Background(), "missing"); err.Error() != `secret "missing" not found in env BMTEST_SECRET_*` {
		t.Errorf("error = %q", err)
	}
}
