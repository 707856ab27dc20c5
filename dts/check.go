package dts

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Check calls the scheduler's Hello once. It tells a scheduler that refuses
// this client (wrong task hub, rejected credential) from one that is merely
// not reachable yet; see AccessDenied and Startup.
func Check(ctx context.Context, conn grpc.ClientConnInterface) error {
	if err := conn.Invoke(ctx, "/TaskHubSidecarService/Hello", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		return fmt.Errorf("scheduler hello: %w", err)
	}
	return nil
}

// permanent reports whether a scheduler error will not go away by waiting:
// retrying a wrong task hub or a malformed request only fills the logs.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument, codes.FailedPrecondition:
		return true
	}
	return false
}

// AccessDenied reports whether the scheduler refused the caller's identity
// (Unauthenticated or PermissionDenied). Unlike a wrong task hub this can
// mend itself: right after a first deployment Azure takes minutes to apply
// new role assignments, and until then the service refuses the apps it was
// deployed with.
func AccessDenied(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied:
		return true
	}
	return false
}

// Default back-off between start-up attempts.
const (
	startupMinDelay = 500 * time.Millisecond
	startupMaxDelay = 15 * time.Second
)

// Startup describes how a binary waits for its scheduler when it starts;
// see Wait.
type Startup struct {
	// Config names the scheduler in log lines and errors.
	Config Config
	// AccessWait is how long after Wait begins a scheduler that refuses
	// the identity (AccessDenied) is tried again before Wait gives up.
	// Zero or negative gives up at the first refusal.
	AccessWait time.Duration
	// Logger receives one warning per kind of trouble. Nil means
	// slog.Default().
	Logger *slog.Logger

	// minDelay and maxDelay bound the back-off; zero means
	// startupMinDelay and startupMaxDelay. Tests shorten them.
	minDelay, maxDelay time.Duration
}

// Wait calls attempt until it succeeds and returns nil, or returns the
// reason it stopped:
//   - a scheduler that cannot be reached is tried again, with back-off,
//     for as long as ctx lasts;
//   - a scheduler that refuses the identity is tried again until
//     AccessWait has passed, then Wait returns the last refusal;
//   - a wrong task hub or a malformed request is returned at once;
//   - when ctx ends, Wait returns ctx.Err().
//
// It logs one warning the first time the scheduler is unreachable and one
// the first time it refuses the identity, whatever the number of attempts.
func (s Startup) Wait(ctx context.Context, attempt func(context.Context) error) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	minDelay, maxDelay := s.minDelay, s.maxDelay
	if minDelay <= 0 {
		minDelay = startupMinDelay
	}
	if maxDelay <= 0 {
		maxDelay = startupMaxDelay
	}
	deadline := time.Now().Add(s.AccessWait)
	warnedUnreachable, warnedDenied := false, false
	delay := minDelay
	for {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := delay
		switch {
		case AccessDenied(err):
			left := time.Until(deadline)
			if left <= 0 {
				return fmt.Errorf("scheduler %s still refused this identity for task hub %q %s after start: %w",
					s.Config.Address, s.Config.TaskHub, s.AccessWait, err)
			}
			if !warnedDenied {
				warnedDenied = true
				log.Warn("scheduler refused this identity; retrying, since new role assignments take minutes to apply",
					"scheduler", s.Config.Address, "taskhub", s.Config.TaskHub,
					"retry_for", s.AccessWait.String(), "until", deadline.UTC().Format(time.RFC3339), "err", err)
			}
			// The last attempt lands on the deadline, not a back-off
			// step beyond it.
			wait = min(wait, left)
		case permanent(err):
			return err
		default:
			if !warnedUnreachable {
				warnedUnreachable = true
				log.Warn("scheduler not reachable yet; retrying quietly",
					"scheduler", s.Config.Address, "taskhub", s.Config.TaskHub, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		delay = min(delay*2, maxDelay)
	}
}
