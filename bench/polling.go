package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Polling is start and decision throughput without and with a poller
// beside it, each the mean of alternating phases.
type Polling struct {
	StartPerSecond          float64 `json:"start_per_second"`
	StartPerSecondPolled    float64 `json:"start_per_second_polled"`
	DecisionPerSecond       float64 `json:"decision_per_second"`
	DecisionPerSecondPolled float64 `json:"decision_per_second_polled"`
}

// pollingPhases measures Polling in rounds phases of n approvals each,
// every other one with poll running beside it until the phase ends.
type pollingPhases struct {
	rounds, n int
	// polls says what poll polls, in the progress lines.
	polls string
	say   func(format string, args ...any)
	poll  func(stop <-chan struct{}) error
	ids   func(prefix string, n int) []string
	// start starts a phase's approvals and returns once they all wait
	// for a decision; decide decides them and returns once they have all
	// completed.
	start, decide func(ids []string) error
}

func (p pollingPhases) measure(ctx context.Context) (Polling, error) {
	var starts, decisions [2][]float64
	for round := range p.rounds {
		polled := round % 2
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var pollErr error
		if polled == 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pollErr = p.poll(stop)
			}()
		}
		p.say("throughput phase %d of %d (polling%s: %v): %d approvals", round+1, p.rounds, p.polls, polled == 1, p.n)
		ids := p.ids("load", p.n)
		began := time.Now()
		err := p.start(ids)
		if err == nil {
			starts[polled] = append(starts[polled], float64(p.n)/time.Since(began).Seconds())
			began = time.Now()
			err = p.decide(ids)
			decisions[polled] = append(decisions[polled], float64(p.n)/time.Since(began).Seconds())
		}
		close(stop)
		wg.Wait()
		if err != nil {
			return Polling{}, err
		}
		if pollErr != nil {
			return Polling{}, fmt.Errorf("poller: %w", pollErr)
		}
	}
	return Polling{StartPerSecond: average(starts[0]), StartPerSecondPolled: average(starts[1]),
		DecisionPerSecond: average(decisions[0]), DecisionPerSecondPolled: average(decisions[1])}, nil
}
