package scheduler

import "strings"

// Store returns the store of a task hub (names match regardless of case),
// or nil when the server has no such hub. It is for tools in the same
// process, such as the dashboard, that start, signal and purge instances
// the way a client does over gRPC, and read through the store's Reader.
func (s *Server) Store(taskHub string) *Store {
	for _, h := range s.hubs {
		if strings.EqualFold(h.name, taskHub) {
			return h.store
		}
	}
	return nil
}
