package e2e

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestJSSDKEntities runs Microsoft's JS SDK worker and client against the
// scheduler binary alone (no worker of ours, which would take the SDK's
// orchestrations): a counter entity hosted by the SDK's worker, signalled,
// read, queried and cleaned by its client, called, signalled and locked by
// an orchestration, and an orchestration rewound after its activity failed
// (testdata/jssdk/entities.mjs).
//
// The scheduler's dashboard then lists the entity the orchestration left
// behind, with its state, and shows its page.
func TestJSSDKEntities(t *testing.T) {
	dash := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := &stack{t: t, grpcPort: freePort(t), data: t.TempDir(), schedArgs: []string{"-dashboard", dash}}
	s.startScheduler()
	addr := fmt.Sprintf("127.0.0.1:%d", s.grpcPort)
	waitListening(t, addr)
	t.Log(node(t, 2*time.Minute, "entities.mjs", addr))

	list := getPage(t, "http://"+dash+"/hubs/default/entities?prefix=counter")
	link := regexp.MustCompile(`href="(/hubs/default/entities/@counter@o-[^"]+)"`).FindStringSubmatch(list)
	if link == nil || !strings.Contains(list, "<code>16</code>") {
		t.Fatalf("the dashboard's entities list lacks the orchestration's counter (state 16):\n%s", list)
	}
	page := getPage(t, "http://"+dash+link[1])
	if !strings.Contains(page, `<pre class="json">16</pre>`) || !strings.Contains(page, "<dt>Locked by</dt><dd><span class=\"muted\">nobody</span>") {
		t.Fatalf("the entity's page:\n%s", page)
	}
}

func getPage(t *testing.T, url string) string {
	t.Helper()
	code, body := fetch(t, http.DefaultClient, url, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
	return body
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
