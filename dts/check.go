package dts

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Check calls the scheduler's Hello once. It tells a scheduler that refuses
// this client (wrong task hub, rejected credential) from one that is merely
// not reachable yet; see Permanent.
func Check(ctx context.Context, conn grpc.ClientConnInterface) error {
	if err := conn.Invoke(ctx, "/TaskHubSidecarService/Hello", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		return fmt.Errorf("scheduler hello: %w", err)
	}
	return nil
}

// Permanent reports whether a scheduler error will not go away by waiting:
// retrying a wrong task hub or a refused credential only fills the logs.
func Permanent(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.FailedPrecondition:
		return true
	}
	return false
}
