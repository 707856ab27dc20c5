package dts

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Role says which side of the protocol a connection serves.
type Role int

const (
	// RoleClient starts, queries and signals orchestrations (the handler).
	RoleClient Role = iota
	// RoleWorker receives and completes work items (the worker).
	RoleWorker
)

// Transport settings shared with the official SDKs.
const (
	// MaxMessageSize bounds messages in both directions; orchestration
	// histories can be large.
	MaxMessageSize = 64 << 20
	// KeepaliveTime and KeepaliveTimeout detect dead connections, which
	// matters for the long-lived work item stream behind NAT and load
	// balancers. A scheduler built on grpc-go must allow pings this often
	// (see scheduler/guard's ServerOptions).
	KeepaliveTime    = 2 * time.Minute
	KeepaliveTimeout = 20 * time.Second
)

// Dial opens a connection to the scheduler described by cfg. The connection
// is lazy: it is usable at once and connects on first use.
//
// Every call carries taskhub, x-user-agent and, with a credential or a
// Token, authorization metadata. A RoleWorker connection also carries
// workerid and fixes up the work item protocol for durabletask-go v0.6.0:
// completion tokens are echoed, health pings are swallowed, the work item
// limits are sent, and a work item stream that falls silent is broken so
// that the worker reconnects. Unary calls that fail with Unavailable are
// retried a few times with backoff.
func Dial(ctx context.Context, cfg Config, role Role) (*grpc.ClientConn, error) {
	opts, err := DialOptions(cfg, role)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.DialContext(ctx, cfg.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial scheduler at %s: %w", cfg.Address, err)
	}
	return conn, nil
}

// DialOptions returns the options Dial uses, for callers that dial
// themselves (for example over an in-memory listener).
func DialOptions(cfg Config, role Role) ([]grpc.DialOption, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "dts", "taskhub", cfg.TaskHub)

	var auth authorizer
	switch {
	case cfg.Credential != nil:
		auth = newTokenSource(cfg.Credential, log)
	case cfg.Token != "":
		auth = staticToken(cfg.Token)
	default:
		cred, err := NewCredential(cfg)
		if err != nil {
			return nil, err
		}
		if cred != nil {
			auth = newTokenSource(cred, log)
		}
	}

	creds := insecure.NewCredentials()
	if cfg.TLS {
		// The server name is checked against the host part of the dial
		// target, which grpc passes to the TLS handshake.
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs})
	}

	md := []string{"taskhub", cfg.TaskHub, "x-user-agent", UserAgent(role)}
	if role == RoleWorker {
		md = append(md, "workerid", workerID())
	}
	meta := &metadataInjector{pairs: md, auth: auth}

	unary := []grpc.UnaryClientInterceptor{}
	stream := []grpc.StreamClientInterceptor{meta.stream}
	if role == RoleWorker {
		w := newWorkItemTracker(cfg, log)
		// The completion interceptor is outermost so that the token it
		// writes into the request survives every retry below it.
		unary = append(unary, w.unary)
		stream = append(stream, w.stream)
	}
	unary = append(unary, retryUnavailable(defaultRetry), meta.unary)

	return []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(Product + "/" + version()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
		// grpc-go waits a second before the first reconnect and up to two
		// minutes later on, while calls fail at once; a scheduler that
		// restarts in a moment should be found again within the few
		// seconds the retry interceptor waits.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                KeepaliveTime,
			Timeout:             KeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(stream...),
	}, nil
}

// workerID identifies this worker process to the service, in the form the
// official SDKs use: host,pid,uuid.
func workerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return host + "," + strconv.Itoa(os.Getpid()) + "," + uuid.NewString()
}
