package approval

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Delivery is how hard one notice is tried on one channel before it is
// given up and logged. The orchestrator does not await notices, so a
// channel that keeps failing holds up nothing but its own notice.
type Delivery struct {
	// Attempts bounds the sends, the first included.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after
	// each further one.
	Backoff time.Duration
	// AttemptTimeout cuts an attempt short, so that a receiver that
	// accepts the connection and never answers costs a bounded wait.
	AttemptTimeout time.Duration
}

// DefaultDelivery tries a notice four times over about a minute at most:
// four attempts of up to 10 seconds, 2, 4 and 8 seconds apart.
var DefaultDelivery = Delivery{Attempts: 4, Backoff: 2 * time.Second, AttemptTimeout: 10 * time.Second}

// withDefaults fills the fields left zero from DefaultDelivery.
func (d Delivery) withDefaults() Delivery {
	if d.Attempts <= 0 {
		d.Attempts = DefaultDelivery.Attempts
	}
	if d.Backoff <= 0 {
		d.Backoff = DefaultDelivery.Backoff
	}
	if d.AttemptTimeout <= 0 {
		d.AttemptTimeout = DefaultDelivery.AttemptTimeout
	}
	return d
}

// Send sends n through to until an attempt succeeds, Attempts times at
// most, each attempt within AttemptTimeout. Zero fields of d take
// DefaultDelivery's. The error is the last attempt's.
func (d Delivery) Send(ctx context.Context, to Notifier, n Notice) error {
	d = d.withDefaults()
	wait := d.Backoff
	for attempt := 1; ; attempt++ {
		err := d.attempt(ctx, to, n)
		if err == nil {
			return nil
		}
		if attempt >= d.Attempts || ctx.Err() != nil {
			return gaveUp(attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return gaveUp(attempt, err)
		case <-t.C:
		}
		wait *= 2
	}
}

func gaveUp(attempts int, err error) error {
	if attempts == 1 {
		return fmt.Errorf("gave up after 1 attempt: %w", err)
	}
	return fmt.Errorf("gave up after %d attempts: %w", attempts, err)
}

func (d Delivery) attempt(ctx context.Context, to Notifier, n Notice) error {
	actx, cancel := context.WithTimeout(ctx, d.AttemptTimeout)
	defer cancel()
	err := to.NotifyApprover(actx, n)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s: %w", d.AttemptTimeout, err)
	}
	return err
}

// Deliverer is a Notifier that sends each notice through several channels
// and tries each channel on its own, such as notify.Multi. deliver hands
// it the Delivery instead of retrying the whole notice, so that a channel
// that delivered is not sent the notice again because another failed.
type Deliverer interface {
	Notifier
	Deliver(ctx context.Context, n Notice, d Delivery) error
}
