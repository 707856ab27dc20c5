package dts

import (
	"context"
	"crypto/tls"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Role says which side of the protocol a connection serves.
type Role int

const (
	// RoleClient starts, queries and signals orchestrations (the handler).
	RoleClient Role = iota
	// RoleWorker receives and completes work items (the worker).
	RoleWorker
)

// Dial opens a connection to the scheduler described by cfg. The connection
// is lazy: it is usable at once and connects on first use.
func Dial(_ context.Context, cfg Config, role Role) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if cfg.TLS {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	md := metadata.Pairs("taskhub", cfg.TaskHub)
	conn, err := grpc.Dial(cfg.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.NewOutgoingContext(ctx, md), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(metadata.NewOutgoingContext(ctx, md), desc, cc, method, opts...)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial scheduler at %s: %w", cfg.Address, err)
	}
	return conn, nil
}
