package dts

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// AuthMode names how a connection authenticates to the scheduler. The
// values are the connection string's Authentication values.
type AuthMode string

// Authentication modes, each mapped to the azidentity credential of the
// same name (None sends no Entra ID token).
const (
	AuthNone               AuthMode = "None"
	AuthDefaultAzure       AuthMode = "DefaultAzure"
	AuthManagedIdentity    AuthMode = "ManagedIdentity"
	AuthWorkloadIdentity   AuthMode = "WorkloadIdentity"
	AuthEnvironment        AuthMode = "Environment"
	AuthAzureCLI           AuthMode = "AzureCLI"
	AuthAzurePowerShell    AuthMode = "AzurePowerShell"
	AuthInteractiveBrowser AuthMode = "InteractiveBrowser"
)

var authModes = []AuthMode{
	AuthNone, AuthDefaultAzure, AuthManagedIdentity, AuthWorkloadIdentity,
	AuthEnvironment, AuthAzureCLI, AuthAzurePowerShell, AuthInteractiveBrowser,
}

// ParseAuthMode matches s case-insensitively against the known modes.
func ParseAuthMode(s string) (AuthMode, bool) {
	s = strings.TrimSpace(s)
	for _, m := range authModes {
		if strings.EqualFold(s, string(m)) {
			return m, true
		}
	}
	return "", false
}

// TokenScope is the Entra ID scope of the Durable Task Scheduler data plane.
const TokenScope = "https://durabletask.io/.default"

// NewCredential builds the azidentity credential cfg.Authentication names.
// It returns nil for None. Building a credential does no I/O; problems such
// as a missing managed identity surface on the first token request.
func NewCredential(cfg Config) (azcore.TokenCredential, error) {
	tenants := cfg.AdditionallyAllowedTenants
	var (
		cred azcore.TokenCredential
		err  error
	)
	switch cfg.Authentication {
	case "", AuthNone:
		return nil, nil
	case AuthDefaultAzure:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			TenantID: cfg.TenantID, AdditionallyAllowedTenants: tenants,
		})
	case AuthManagedIdentity:
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if cfg.ClientID != "" {
			opts.ID = azidentity.ClientID(cfg.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(opts)
	case AuthWorkloadIdentity:
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientID: cfg.ClientID, TenantID: cfg.TenantID, TokenFilePath: cfg.TokenFilePath,
			AdditionallyAllowedTenants: tenants,
		})
	case AuthEnvironment:
		cred, err = azidentity.NewEnvironmentCredential(nil)
	case AuthAzureCLI:
		cred, err = azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{
			TenantID: cfg.TenantID, AdditionallyAllowedTenants: tenants,
		})
	case AuthAzurePowerShell:
		cred, err = azidentity.NewAzurePowerShellCredential(&azidentity.AzurePowerShellCredentialOptions{
			TenantID: cfg.TenantID, AdditionallyAllowedTenants: tenants,
		})
	case AuthInteractiveBrowser:
		cred, err = azidentity.NewInteractiveBrowserCredential(&azidentity.InteractiveBrowserCredentialOptions{
			ClientID: cfg.ClientID, TenantID: cfg.TenantID, AdditionallyAllowedTenants: tenants,
		})
	default:
		return nil, &ConfigError{Source: "dts.Config", Key: "Authentication", Problem: probUnknownMode}
	}
	if err != nil {
		return nil, fmt.Errorf("create %s credential: %w", cfg.Authentication, err)
	}
	return cred, nil
}

// Token cache timing.
const (
	// refreshMargin is how long before expiry a token is replaced, as the
	// official SDKs do, so that a call never leaves with a token that
	// expires in flight.
	refreshMargin = 5 * time.Minute
	// expirySkew is how close to expiry a cached token is still used when
	// a refresh fails.
	expirySkew = 30 * time.Second
	// fetchTimeout bounds one token request; it runs detached from any
	// single caller, whose cancellation must not fail the others waiting.
	fetchTimeout = 30 * time.Second
)

// tokenSource caches an access token and refreshes it before it expires.
// Concurrent callers that find no fresh token share one fetch.
type tokenSource struct {
	cred  azcore.TokenCredential
	scope string
	log   *slog.Logger
	now   func() time.Time

	mu        sync.Mutex
	tok       azcore.AccessToken
	have      bool
	refreshAt time.Time
	inflight  *tokenFetch
	// failing is true from a failed fetch until the next success, so a
	// run of failures is logged once, not once per call.
	failing bool
}

type tokenFetch struct {
	done chan struct{}
	tok  azcore.AccessToken
	err  error
}

func newTokenSource(cred azcore.TokenCredential, log *slog.Logger) *tokenSource {
	return &tokenSource{cred: cred, scope: TokenScope, log: log, now: time.Now}
}

// Token returns a bearer token. Its errors are gRPC status errors with
// codes.Unavailable, so that callers and retry logic treat them as
// transient, or the caller's context error.
func (s *tokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	if s.have && s.now().Before(s.refreshAt) {
		t := s.tok.Token
		s.mu.Unlock()
		return t, nil
	}
	f := s.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		s.inflight = f
		go s.fetch(f)
	}
	// Inside the refresh margin the cached token is still good: callers
	// use it while the refresh runs, rather than wait for it.
	if s.have && s.now().Before(s.tok.ExpiresOn.Add(-expirySkew)) {
		t := s.tok.Token
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return "", status.FromContextError(ctx.Err()).Err()
	}
	if f.err == nil {
		return f.tok.Token, nil
	}
	// A refresh inside the margin failed; the old token is still good for
	// a while, and using it beats failing the call.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.have && s.now().Before(s.tok.ExpiresOn.Add(-expirySkew)) {
		return s.tok.Token, nil
	}
	return "", status.Errorf(codes.Unavailable, "get access token for %s: %v", s.scope, f.err)
}

func (s *tokenSource) fetch(f *tokenFetch) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	tok, err := s.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.scope}})
	cancel()
	if err == nil && tok.Token == "" {
		err = fmt.Errorf("credential returned an empty token")
	}

	s.mu.Lock()
	s.inflight = nil
	if err == nil {
		now := s.now()
		s.tok, s.have = tok, true
		s.refreshAt = refreshTime(now, tok)
		if s.failing {
			s.log.Info("access token acquired again after failures", "scope", s.scope)
		}
		s.failing = false
	} else {
		if !s.failing {
			// azidentity errors describe the credential chain, never the
			// token itself, so they are safe to log.
			s.log.Warn("cannot get access token for the scheduler; calls fail with Unavailable until it succeeds",
				"scope", s.scope, "error", err)
		}
		s.failing = true
	}
	f.tok, f.err = tok, err
	s.mu.Unlock()
	close(f.done)
}

// refreshTime is when a token fetched at now should be replaced: the
// margin before expiry, or half its life for very short-lived tokens, or
// the issuer's own hint when that comes first.
func refreshTime(now time.Time, tok azcore.AccessToken) time.Time {
	life := tok.ExpiresOn.Sub(now)
	margin := refreshMargin
	if life < 2*refreshMargin {
		margin = life / 2
	}
	at := tok.ExpiresOn.Add(-margin)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(at) {
		at = tok.RefreshOn
	}
	return at
}

func splitHostPort(addr string) (string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", err
	}
	if host == "" || port == "" {
		return "", "", fmt.Errorf("address needs host and port")
	}
	return host, port, nil
}
