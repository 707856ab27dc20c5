package dashboard

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkInstancePage measures the page of a waiting approval, served
// in process so that the page's own work is what is measured: the
// instance and a window of its history read, the app's parts and the
// render.
func BenchmarkInstancePage(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.startApproval("bench-1", "ana", time.Hour)
	req := httptest.NewRequest(http.MethodGet, e.url+"/hubs/default/instances/bench-1", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.dash.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
