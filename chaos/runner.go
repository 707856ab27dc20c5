package chaos

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The runner: the goroutines that send each approval's requests as its plan
// says, record the answers, and wait for every approval to settle.

// tracked is a record being filled by the goroutines of one approval.
type tracked struct {
	mu  sync.Mutex
	rec Record
}

// note keeps what an answer says about the approval.
func (t *tracked) note(code int, body []byte) reading {
	rd := read(code, body)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !rd.expiresAt.IsZero() && !slices.ContainsFunc(t.rec.Published, rd.expiresAt.Equal) {
		t.rec.Published = append(t.rec.Published, rd.expiresAt)
	}
	if rd.final != nil && !slices.ContainsFunc(t.rec.Reported, func(o Outcome) bool { return reflect.DeepEqual(o, *rd.final) }) {
		t.rec.Reported = append(t.rec.Reported, *rd.final)
	}
	return rd
}

type runner struct {
	cfg   Config
	api   *client
	began time.Time
	recs  []*tracked
	// Figures for the progress line.
	starts, decisions, final atomic.Int64
	settling                 atomic.Bool
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// run plays one approval's step.
func (r *runner) run(ctx context.Context, s step, t *tracked) {
	if !sleepUntil(ctx, r.began.Add(s.at)) {
		return
	}
	body := map[string]any{"request_id": s.id, "requester": Requester, "item": "item " + s.id, "timeout": s.timeout.String()}
	if len(s.approvers) > 0 {
		body["approvers"] = s.approvers
	}
	if s.policy != "" {
		body["policy"] = s.policy
	}
	if s.required > 0 {
		body["required"] = s.required
	}
	a, resp := r.api.call(ctx, http.MethodPost, "/api/approvals", body)
	t.note(a.Code, resp)
	t.mu.Lock()
	t.rec.Start = a
	t.mu.Unlock()
	r.starts.Add(1)
	if !started(a.Code) {
		return
	}
	if s.plan == PlanLate {
		deadline := r.expiry(ctx, s, t)
		if !deadline.IsZero() && sleepUntil(ctx, deadline.Add(s.lateBy)) {
			r.decide(ctx, s.id, t, Decision{Approved: s.approved, Approver: "Late", Comments: "late " + s.id, Late: true})
		}
		return
	}
	var wg sync.WaitGroup
	for _, sd := range s.sends {
		wg.Go(func() {
			if sleepUntil(ctx, a.FirstSent.Add(sd.after)) {
				r.decide(ctx, s.id, t, sd.d)
			}
		})
	}
	wg.Wait()
}

// decide sends d, a decision or a withdrawal, and keeps its answer.
func (r *runner) decide(ctx context.Context, id string, t *tracked, d Decision) {
	t.mu.Lock()
	i := len(t.rec.Decisions)
	t.rec.Decisions = append(t.rec.Decisions, d)
	t.mu.Unlock()
	path, body := "/api/approvals/"+id+"/decision", map[string]any{"approved": d.Approved, "approver": d.Approver, "comments": d.Comments}
	if d.Withdraw {
		path, body = "/api/approvals/"+id+"/withdraw", map[string]any{"requester": d.Approver, "reason": d.Comments}
	}
	a, resp := r.api.call(ctx, http.MethodPost, path, body)
	rd := t.note(a.Code, resp)
	a.Reason = rd.reason
	t.mu.Lock()
	t.rec.Decisions[i].Answer = a
	if a.Code == http.StatusOK {
		t.rec.Decisions[i].Reported = rd.final
	}
	t.mu.Unlock()
	r.decisions.Add(1)
}

// expiry polls the approval until it publishes expires_at; zero means it
// never did within the give-up bound or ended without one.
func (r *runner) expiry(ctx context.Context, s step, t *tracked) time.Time {
	end := time.Now().Add(r.cfg.GiveUp + s.timeout)
	wait := 100 * time.Millisecond
	for time.Now().Before(end) {
		a, body := r.api.call(ctx, http.MethodGet, "/api/approvals/"+s.id, nil)
		rd := t.note(a.Code, body)
		switch {
		case !rd.expiresAt.IsZero():
			return rd.expiresAt
		case a.Code != http.StatusAccepted:
			return time.Time{}
		}
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			return time.Time{}
		}
		wait = min(2*wait, time.Second)
	}
	return time.Time{}
}

// settle reads every approval until all are final (or missing) or the
// bound has passed; what is still pending then is left as last seen.
func (r *runner) settle(ctx context.Context, bound time.Time) {
	r.settling.Store(true)
	pending := slices.Clone(r.recs)
	for len(pending) > 0 && time.Now().Before(bound) {
		var mu sync.Mutex
		var next []*tracked
		var wg sync.WaitGroup
		for _, t := range pending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, err := r.api.attempt(ctx, http.MethodGet, "/api/approvals/"+t.rec.ID, nil)
				f := finalOf(code, body, err)
				t.mu.Lock()
				t.rec.Final = f
				t.mu.Unlock()
				if f.Code == http.StatusOK || f.Code == http.StatusNotFound {
					r.final.Add(1)
					return
				}
				mu.Lock()
				next = append(next, t)
				mu.Unlock()
			}()
		}
		wg.Wait()
		pending = next
		if len(pending) > 0 && !sleepUntil(ctx, time.Now().Add(500*time.Millisecond)) {
			return
		}
	}
}

// finalOf is what one GET says of an approval's end state.
func finalOf(code int, body []byte, err error) Final {
	if err != nil {
		return Final{}
	}
	f := Final{Code: code}
	rd := read(code, body)
	f.ExpiresAt = rd.expiresAt
	switch {
	case rd.final != nil:
		f.Outcome = *rd.final
	case code == http.StatusOK:
		var v view
		if json.Unmarshal(body, &v) == nil {
			_ = json.Unmarshal(v.Status, &f.Outcome.Status)
		}
	}
	return f
}

// progress prints a line every ten seconds until stopped.
func (r *runner) progress(c *cluster) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if r.settling.Load() {
				say(r.cfg.Progress, "chaos: %3.0fs: settling, %d/%d final", time.Since(r.began).Seconds(), r.final.Load(), len(r.recs))
				continue
			}
			kills, _, down, _ := c.state()
			say(r.cfg.Progress, "chaos: %3.0fs: %d/%d started, %d decisions answered; kills scheduler %d, worker %d, handler %d; down %v",
				time.Since(r.began).Seconds(), r.starts.Load(), len(r.recs), r.decisions.Load(),
				kills[Scheduler], kills[Worker], kills[Handler], down)
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}
