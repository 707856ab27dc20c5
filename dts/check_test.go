package dts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/dts/dtstest"
)

// script returns an attempt function that fails with errs in turn and then
// succeeds, and a counter of the calls made.
func script(errs ...error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}, &calls
}

func fastStartup(logs *dtstest.Logs, wait time.Duration) Startup {
	return Startup{
		Config:     Config{Address: "sched.example:443", TaskHub: "hub"},
		AccessWait: wait,
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
		minDelay:   time.Millisecond,
		maxDelay:   20 * time.Millisecond,
	}
}

func warnings(logs *dtstest.Logs) int {
	return strings.Count(logs.String(), `"level":"WARN"`) + strings.Count(logs.String(), `"level":"ERROR"`)
}

var (
	errUnavailable = fmt.Errorf("scheduler hello: %w", status.Error(codes.Unavailable, "connection refused"))
	errDenied      = fmt.Errorf("scheduler hello: %w", status.Error(codes.PermissionDenied, "no role"))
	errUnauth      = fmt.Errorf("scheduler hello: %w", status.Error(codes.Unauthenticated, "bad token"))
	errNotFound    = fmt.Errorf("scheduler hello: %w", status.Error(codes.NotFound, "no such task hub"))
)

func TestAccessDenied(t *testing.T) {
	for err, want := range map[error]bool{
		errDenied: true, errUnauth: true, errUnavailable: false, errNotFound: false, nil: false,
		errors.New("plain"): false,
	} {
		if got := AccessDenied(err); got != want {
			t.Errorf("AccessDenied(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestStartupWaitsOutARefusalThatMends(t *testing.T) {
	logs := &dtstest.Logs{}
	attempt, calls := script(errUnavailable, errUnavailable, errDenied, errUnauth, errDenied, errUnavailable)
	if err := fastStartup(logs, time.Minute).Wait(context.Background(), attempt); err != nil {
		t.Fatalf("Wait = %v, want nil once the scheduler accepts", err)
	}
	if *calls != 7 {
		t.Errorf("attempts = %d, want 7", *calls)
	}
	// One line for being unreachable, one for being refused, however many
	// attempts each took.
	if n := warnings(logs); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "role assignments") || !strings.Contains(logs.String(), `"retry_for":"1m0s"`) {
		t.Errorf("the refusal warning does not say why it waits and for how long:\n%s", logs.String())
	}
}

func TestStartupGivesUpAfterAccessWait(t *testing.T) {
	logs := &dtstest.Logs{}
	refused := make([]error, 1000)
	for i := range refused {
		refused[i] = errUnauth
	}
	attempt, calls := script(refused...)
	const wait = 150 * time.Millisecond
	start := time.Now()
	err := fastStartup(logs, wait).Wait(context.Background(), attempt)
	took := time.Since(start)
	if !AccessDenied(err) {
		t.Fatalf("Wait = %v, want the last refusal", err)
	}
	for _, want := range []string{"sched.example:443", `"hub"`, "Unauthenticated", "bad token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if took < wait {
		t.Errorf("Wait gave up after %s, before AccessWait (%s)", took, wait)
	}
	if *calls < 2 {
		t.Errorf("attempts = %d; a refusal must be retried", *calls)
	}
	if n := warnings(logs); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	t.Logf("gave up after %s and %d attempts (AccessWait %s)", took.Round(time.Millisecond), *calls, wait)
}

func TestStartupZeroAccessWaitGivesUpAtOnce(t *testing.T) {
	logs := &dtstest.Logs{}
	attempt, calls := script(errDenied)
	if err := fastStartup(logs, 0).Wait(context.Background(), attempt); !AccessDenied(err) {
		t.Fatalf("Wait = %v, want the refusal", err)
	}
	if *calls != 1 {
		t.Errorf("attempts = %d, want 1", *calls)
	}
}

func TestStartupStopsAtOnceForAWrongTaskHub(t *testing.T) {
	logs := &dtstest.Logs{}
	attempt, calls := script(errUnavailable, errNotFound)
	err := fastStartup(logs, time.Minute).Wait(context.Background(), attempt)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Wait = %v, want NotFound", err)
	}
	if *calls != 2 {
		t.Errorf("attempts = %d, want 2", *calls)
	}
}

func TestStartupEndsWithContext(t *testing.T) {
	logs := &dtstest.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := fastStartup(logs, time.Minute).Wait(ctx, func(context.Context) error {
		calls++
		if calls == 3 {
			cancel()
		}
		return errDenied
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}
