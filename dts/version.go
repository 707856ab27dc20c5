package dts

import "runtime/debug"

// Product is the name this module announces in x-user-agent.
const Product = "approvals-go"

// Version is announced in x-user-agent. Release builds can set it with
// -ldflags "-X github.com/approvals-go/approvals/dts.Version=1.2.3"; when
// empty, the module version recorded in the binary is used.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// UserAgent is the x-user-agent value for a connection in the given role,
// in the form the official SDKs use: product/version (DurableTaskClient).
func UserAgent(role Role) string {
	kind := "DurableTaskClient"
	if role == RoleWorker {
		kind = "DurableTaskWorker"
	}
	return Product + "/" + version() + " (" + kind + ")"
}
