package dts

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/dts/dtstest"
)

// fakeClock is a settable clock shared by the token source and the fake
// credential, so expiry is tested without waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestSource(t *testing.T, cred *dtstest.FakeCredential, clock *fakeClock, logs *dtstest.Logs) *tokenSource {
	t.Helper()
	cred.Now = clock.Now
	ts := newTokenSource(cred, logs.Logger())
	ts.now = clock.Now
	return ts
}

func mustToken(t *testing.T, ts *tokenSource, want string) {
	t.Helper()
	got, err := ts.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got != want {
		t.Fatalf("Token = %q, want %q", got, want)
	}
}

// eventuallyToken calls Token until it returns want: inside the refresh
// margin the cached token is served while the new one is fetched.
func eventuallyToken(t *testing.T, ts *tokenSource, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := ts.Token(context.Background())
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Token = %q, want %q in time", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTokenCachedAndRefreshedBeforeExpiry(t *testing.T) {
	clock, logs := newFakeClock(), &dtstest.Logs{}
	cred := &dtstest.FakeCredential{Lifetime: time.Hour}
	ts := newTestSource(t, cred, clock, logs)

	mustToken(t, ts, "token-1")
	clock.Advance(54 * time.Minute)
	mustToken(t, ts, "token-1") // six minutes left: still cached
	if cred.Fetches() != 1 {
		t.Fatalf("%d fetches, want 1", cred.Fetches())
	}
	clock.Advance(61 * time.Second) // inside the 5-minute margin
	eventuallyToken(t, ts, "token-2")
	if cred.Fetches() != 2 {
		t.Fatalf("%d fetches, want 2", cred.Fetches())
	}
	if s := cred.Scopes(); len(s) == 0 || s[0] != TokenScope {
		t.Fatalf("scopes %v, want %s", s, TokenScope)
	}
}

func TestShortLivedTokenRefreshedAtHalfLife(t *testing.T) {
	clock, logs := newFakeClock(), &dtstest.Logs{}
	cred := &dtstest.FakeCredential{Lifetime: 4 * time.Minute}
	ts := newTestSource(t, cred, clock, logs)
	mustToken(t, ts, "token-1")
	clock.Advance(119 * time.Second)
	mustToken(t, ts, "token-1")
	clock.Advance(2 * time.Second)
	eventuallyToken(t, ts, "token-2")
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	clock, logs := newFakeClock(), &dtstest.Logs{}
	cred := &dtstest.FakeCredential{Gate: make(chan struct{})}
	ts := newTestSource(t, cred, clock, logs)

	const callers = 50
	var wg sync.WaitGroup
	results := make(chan string, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := ts.Token(context.Background())
			if err != nil {
				t.Errorf("Token: %v", err)
			}
			results <- tok
		}()
	}
	close(cred.Gate) // let the one fetch finish
	wg.Wait()
	close(results)
	for tok := range results {
		if tok != "token-1" {
			t.Fatalf("a caller got %q, want token-1", tok)
		}
	}
	if cred.Fetches() != 1 {
		t.Fatalf("%d fetches for %d concurrent callers, want 1", cred.Fetches(), callers)
	}
}

func TestTokenFailureIsUnavailableAndLoggedOncePerRun(t *testing.T) {
	clock, logs := newFakeClock(), &dtstest.Logs{}
	cred := &dtstest.FakeCredential{Lifetime: time.Hour}
	ts := newTestSource(t, cred, clock, logs)
	const failureLine = "cannot get access token"

	cred.Fail(dtstest.ErrFake)
	for range 5 {
		_, err := ts.Token(context.Background())
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v, want Unavailable", err)
		}
	}
	if cred.Fetches() != 5 {
		t.Fatalf("%d fetches, want a new try per call (5)", cred.Fetches())
	}
	if n := logs.Count(failureLine); n != 1 {
		t.Fatalf("failure logged %d times during one run of failures, want 1:\n%s", n, logs)
	}

	cred.Fail(nil)
	mustToken(t, ts, "token-6")
	if logs.Count("acquired again") != 1 {
		t.Fatalf("recovery not logged:\n%s", logs)
	}

	clock.Advance(2 * time.Hour) // the cached token has expired
	cred.Fail(dtstest.ErrFake)
	for range 3 {
		if _, err := ts.Token(context.Background()); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v, want Unavailable", err)
		}
	}
	if n := logs.Count(failureLine); n != 2 {
		t.Fatalf("failure logged %d times over two runs, want 2:\n%s", n, logs)
	}
}

func TestFailedRefreshKeepsValidToken(t *testing.T) {
	clock, logs := newFakeClock(), &dtstest.Logs{}
	cred := &dtstest.FakeCredential{Lifetime: time.Hour}
	ts := newTestSource(t, cred, clock, logs)
	mustToken(t, ts, "token-1")

	cred.Fail(dtstest.ErrFake)
	clock.Advance(57 * time.Minute) // in the refresh margin, not expired
	mustToken(t, ts, "token-1")
	clock.Advance(3 * time.Minute) // expired
	if _, err := ts.Token(context.Background()); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v after expiry, want Unavailable", err)
	}
}

func TestTokenWaitHonoursContext(t *testing.T) {
	clock, logs := newFakeClock(), &dtstest.Logs{}
	cred := &dtstest.FakeCredential{Gate: make(chan struct{})}
	defer close(cred.Gate)
	ts := newTestSource(t, cred, clock, logs)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ts.Token(ctx); status.Code(err) != codes.Canceled {
		t.Fatalf("got %v, want Canceled", err)
	}
}

func TestNewCredentialForEveryMode(t *testing.T) {
	// Building a credential does no I/O, so every mode can be built here;
	// WorkloadIdentity and Environment need their settings present.
	t.Setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001")
	t.Setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002")
	t.Setenv("AZURE_CLIENT_SECRET", "not-a-real-secret")
	for _, m := range authModes {
		cfg := Config{Authentication: m, TLS: true, TokenFilePath: "/nonexistent/token",
			TenantID: "00000000-0000-0000-0000-000000000001", ClientID: "00000000-0000-0000-0000-000000000002"}
		if m == AuthAzureCLI || m == AuthAzurePowerShell || m == AuthDefaultAzure {
			cfg.ClientID = ""
		}
		cred, err := NewCredential(cfg)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if (cred == nil) != (m == AuthNone) {
			t.Errorf("%s: credential %T", m, cred)
		}
	}
	if _, err := NewCredential(Config{Authentication: "Bogus"}); err == nil {
		t.Error("unknown mode accepted")
	}
}
