package guard_test

import (
	"testing"

	"github.com/approvals-go/approvals/scheduler/guard/guardtest"
)

// TestProtocolVanilla runs the protocol suite against durabletask-go's own
// gRPC executor with the guard installed. The embedded scheduler runs the
// same suite by passing its own guardtest.StartFunc.
func TestProtocolVanilla(t *testing.T) {
	guardtest.Run(t, guardtest.StartVanilla)
}
