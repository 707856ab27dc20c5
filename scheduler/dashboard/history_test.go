package dashboard

import (
	"context"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// shownStep is a step of the timeline as a person reads it.
type shownStep struct {
	Run   bool
	When  string
	Title string
}

// parseSpan reads a duration as span writes it.
func parseSpan(t *testing.T, s string) time.Duration {
	t.Helper()
	num := func(x string) float64 {
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			t.Fatalf("duration %q: %v", s, err)
		}
		return f
	}
	for _, f := range []struct {
		re   *regexp.Regexp
		a, b time.Duration
	}{
		{regexp.MustCompile(`^([\d.]+)µs$`), time.Microsecond, 0},
		{regexp.MustCompile(`^([\d.]+)ms$`), time.Millisecond, 0},
		{regexp.MustCompile(`^([\d.]+)s$`), time.Second, 0},
		{regexp.MustCompile(`^(\d+)m (\d+)s$`), time.Minute, time.Second},
		{regexp.MustCompile(`^(\d+)h (\d+)m$`), time.Hour, time.Minute},
		{regexp.MustCompile(`^(\d+)d (\d+)h$`), 24 * time.Hour, time.Hour},
	} {
		if m := f.re.FindStringSubmatch(s); m != nil {
			d := time.Duration(num(m[1]) * float64(f.a))
			if len(m) > 2 {
				d += time.Duration(num(m[2]) * float64(f.b))
			}
			return d
		}
	}
	t.Fatalf("%q is not a duration as the timeline writes them", s)
	return 0
}

// The timeline's times never go back. In history order the events'
// timestamps do, at every run of the orchestrator: the run is stamped when
// it began, the events it was given before, when they arrived; and a timer
// that fired is stamped when it was created, its whole timeout earlier. So
// the timeline shows each run's time, which only goes forward, and each
// event's time from the start of its run, which only goes forward within
// the run: what it was given "… before", then what it recorded "+…".
func TestBrowserTimelineNeverGoesBack(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("history-decided", "ana", time.Hour)
	e.decide("history-decided", true, "bob")
	e.startApproval("history-timeout", "ana", 2*time.Second)
	e.waitFor("history-timeout", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })

	ctx := browserTab(t, 1280, 900)
	for _, id := range []string{"history-decided", "history-timeout"} {
		// The history itself goes back, or this test would prove nothing.
		events, _, err := e.hub.History(context.Background(), api.InstanceID(id), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		back := 0
		for i := 1; i < len(events); i++ {
			if events[i].GetTimestamp().AsTime().Before(events[i-1].GetTimestamp().AsTime()) {
				back++
			}
		}
		if back == 0 {
			t.Fatalf("%s: the history's timestamps never go back", id)
		}

		browsertest.Do(t, ctx, chromedp.Navigate(e.url+"/hubs/default/instances/"+id))
		steps := browsertest.Run(t, ctx, chromedp.Evaluate[[]shownStep](`[...document.querySelectorAll(".timeline .step")].map(li => ({
			run: li.classList.contains("run"),
			when: li.querySelector(".when time").textContent.trim(),
			title: li.querySelector(".step-title").textContent.trim()}))`))
		if len(steps) != len(events) || !steps[0].Run {
			t.Fatalf("%s: %d steps for %d events, the first %+v", id, len(steps), len(events), steps[0])
		}
		var run time.Time
		var offset time.Duration
		for _, s := range steps {
			if s.Run {
				at, err := time.Parse("2006-01-02 15:04:05.000 UTC", s.When)
				if err != nil {
					t.Fatalf("%s: a run shows %q: %v", id, s.When, err)
				}
				if at.Before(run) {
					t.Errorf("%s: %s at %s, after a run at %s", id, s.Title, s.When, run.Format("15:04:05.000"))
				}
				run, offset = at, time.Duration(math.MinInt64)
				continue
			}
			var d time.Duration
			if before, ok := strings.CutSuffix(s.When, " before"); ok {
				d = -parseSpan(t, before)
			} else if after, ok := strings.CutPrefix(s.When, "+"); ok {
				d = parseSpan(t, after)
			} else {
				t.Fatalf("%s: %s shows %q, not a time in its run", id, s.Title, s.When)
			}
			if d < offset {
				t.Errorf("%s: %s shows %q, earlier than the step before it in its run", id, s.Title, s.When)
			}
			offset = d
		}
		if t.Failed() {
			t.Logf("%s: %+v", id, steps)
		}
	}
	// The timer that fired did so when it was due, its whole timeout
	// after it was created, and its step says so.
	timeline := browsertest.Text(t, ctx, ".timeline")
	if !regexp.MustCompile(`Fired 2\.0s after it was created`).MatchString(timeline) {
		t.Errorf("the timeout's timer: %s", timeline)
	}
}

// Once an approval has ended, its page shows how it ended and no longer
// counts down to its deadline; the custom status it published while it
// waited ("Pending") is shown as the last one it set, not as its state.
// While it waits, the countdown is there.
func TestBrowserEndedApprovalShowsItsOutcome(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("ended-approved", "ana", time.Hour)
	e.decide("ended-approved", true, "bob")
	e.startApproval("ended-terminated", "ana", time.Hour)
	if err := e.client.TerminateOrchestration(context.Background(), "ended-terminated", api.WithOutput("Duplicate of ended-approved")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("ended-terminated", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
	e.startApproval("ended-waiting", "ana", time.Hour)

	ctx := browserTab(t, 1280, 900)
	const ended = "Custom status The last one it set while it ran; the orchestration has finished since."
	for _, c := range []struct {
		id, outcome, glance, custom string
		countdown                   bool
	}{
		{"ended-approved", "Approved by bob — “fine”", "Approved by bob", ended, false},
		{"ended-terminated", "Terminated before anyone decided: “Duplicate of ended-approved”", "No outcome · Duplicate of ended-approved", ended, false},
		{"ended-waiting", "None yet: it waits for a decision.", "Awaiting decision · due in 59m", "Custom status ", true},
	} {
		browsertest.Do(t, ctx, chromedp.Navigate(e.url+"/hubs/default/instances/"+c.id))
		if got := browsertest.Text(t, ctx, ".approval .approval-outcome"); got != c.outcome {
			t.Errorf("%s: the approval's outcome reads %q, want %q", c.id, got, c.outcome)
		}
		if got := browsertest.Text(t, ctx, ".status-line .glance"); !strings.HasPrefix(got, c.glance) {
			t.Errorf("%s: at a glance %q, want %q", c.id, got, c.glance)
		}
		note := browsertest.Run(t, ctx, chromedp.Evaluate[string](`(document.querySelector(".custom-status p") || {}).textContent || ""`))
		if got := browsertest.Text(t, ctx, ".custom-status h2") + " " + note; got != c.custom {
			t.Errorf("%s: the custom status reads %q, want %q", c.id, got, c.custom)
		}
		deadline := browsertest.Run(t, ctx, chromedp.Evaluate[string](`(() => {
			const dt = [...document.querySelectorAll(".approval dt")].find(dt => dt.textContent === "Deadline");
			return dt ? dt.nextElementSibling.textContent : "";
		})()`))
		if counts := strings.Contains(deadline, " in "); deadline == "" || counts != c.countdown {
			t.Errorf("%s: the deadline reads %q; counting down %v, want %v", c.id, deadline, counts, c.countdown)
		}
	}
	// The JSON of the approval API agrees (approval.StateOf is the one
	// read model): the terminated one is Terminated, with its reason.
	st, _ := approval.StateOf(&e.instance("ended-terminated").OrchestrationMetadata)
	if st.Status != approval.StatusTerminated || st.Error != "Duplicate of ended-approved" {
		t.Errorf("the terminated approval reads %s %q", st.Status, st.Error)
	}
}
