package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/internal/browsertest"
	"github.com/approvals-go/approvals/internal/compress"
	"github.com/approvals-go/approvals/internal/nodetest"
)

// devPages runs go run ./cmd/dev as a newcomer does, with an approval
// waiting for bob, and returns the HTTP API's and the dashboard's bases.
func devPages(t *testing.T, id string) (api, dash string) {
	t.Helper()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dashAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dev := start(t, "dev", nil, "-http", httpAddr, "-grpc", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-dashboard", dashAddr, "-data", "")
	waitLog(t, dev, "dashboard   http://"+dashAddr)
	api, dash = "http://"+httpAddr, "http://"+dashAddr
	postApproval(t, api, id)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, raw := fetch(t, http.DefaultClient, api+"/api/approvals/"+id, nil); strings.Contains(raw, `"submitted_at"`) {
			return api, dash
		} else if time.Now().After(deadline) {
			t.Fatalf("%s was never submitted: %s", id, raw)
		}
	}
}

// postApproval starts approval id of a laptop for bob and carol.
func postApproval(t *testing.T, api, id string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"request_id": id, "requester": "ana.lima@contoso.com",
		"item": "MacBook Pro 14\" for the new product designer (2,399 EUR)", "approvers": []string{"bob.meyer@contoso.com", "carol.ng@contoso.com"}, "timeout": "48h"})
	resp, err := http.Post(api+"/api/approvals", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start %s = %d", id, resp.StatusCode)
	}
}

// Both servers compress what they send to a client that accepts gzip,
// pages, their assets and JSON alike, and say Vary: Accept-Encoding; a
// client that does not gets the same bytes uncompressed.
func TestResponsesCompressed(t *testing.T) {
	api, dash := devPages(t, "EXP-GZIP")
	postApproval(t, api, "EXP-GZIP-2") // two make a list worth compressing
	// A raw client: Go's transport would otherwise ask for gzip itself
	// and undo it out of sight.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	get := func(url string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		return fetchResponse(t, c, url, header)
	}
	html := http.Header{"Accept": {"text/html"}}
	for _, p := range []struct {
		name, url string
		header    http.Header
		contains  string
		// small is an answer under compress.MinSize, sent as it is.
		small bool
	}{
		{"review page", api + "/api/review/EXP-GZIP", html, "MacBook Pro 14", false},
		{"inbox", api + "/api/review?approver=bob.meyer@contoso.com", html, "EXP-GZIP", false},
		{"approvals JSON", api + "/api/approvals", nil, `"EXP-GZIP"`, false},
		{"approval JSON", api + "/api/approvals/EXP-GZIP", nil, `"EXP-GZIP"`, true},
		{"dashboard list", dash + "/hubs/default/", nil, "EXP-GZIP", false},
		{"dashboard instance", dash + "/hubs/default/instances/EXP-GZIP", nil, "submit_approval_request", false},
	} {
		plain, identity := get(p.url, p.header)
		if small := len(identity) < compress.MinSize; small != p.small {
			t.Errorf("%s: %d bytes; the test expects small=%v against compress.MinSize (%d)", p.name, len(identity), p.small, compress.MinSize)
		}
		gz := p.header.Clone()
		if gz == nil {
			gz = http.Header{}
		}
		gz.Set("Accept-Encoding", "gzip, deflate, br")
		zipped, compressed := get(p.url, gz)
		if plain.StatusCode/100 != 2 || zipped.StatusCode != plain.StatusCode {
			t.Fatalf("%s: %d and %d", p.name, plain.StatusCode, zipped.StatusCode)
		}
		for _, r := range []*http.Response{plain, zipped} {
			if vary := strings.Join(r.Header.Values("Vary"), ", "); !strings.Contains(vary, "Accept-Encoding") {
				t.Errorf("%s: Vary %q", p.name, vary)
			}
		}
		if len(identity) < compress.MinSize {
			// Too small to be worth it: left as it is.
			if zipped.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s: %d bytes compressed", p.name, len(identity))
			}
			t.Logf("%s: %d bytes, not compressed", p.name, len(identity))
			continue
		}
		if plain.Header.Get("Content-Encoding") != "" || zipped.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: Content-Encoding %q without gzip accepted, %q with", p.name, plain.Header.Get("Content-Encoding"), zipped.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(compressed))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Contains(unzipped, []byte(p.contains)) {
			t.Fatalf("%s: the compressed body does not read back (%v):\n%s", p.name, err, unzipped)
		}
		t.Logf("%s: %d bytes, %d gzipped (%.0f%%)", p.name, len(identity), len(compressed), 100*float64(len(compressed))/float64(len(identity)))

		// The page's style sheets and scripts too.
		for _, asset := range assetLinks(string(identity)) {
			base := api
			if strings.HasPrefix(p.url, dash) {
				base = dash
			}
			plain, identity := get(base+asset, nil)
			zipped, compressed := get(base+asset, http.Header{"Accept-Encoding": {"gzip"}})
			if len(identity) < compress.MinSize {
				continue
			}
			if plain.Header.Get("Content-Encoding") != "" || zipped.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("%s: Content-Encoding %q without gzip accepted, %q with", asset, plain.Header.Get("Content-Encoding"), zipped.Header.Get("Content-Encoding"))
			}
			t.Logf("  %s: %d bytes, %d gzipped", asset, len(identity), len(compressed))
		}
	}
}

// assetLinks are the paths of the style sheets and scripts a page links.
func assetLinks(page string) []string {
	var out []string
	for _, attr := range []string{`<link rel="stylesheet" href="`, `<script src="`} {
		rest := page
		for {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			out = append(out, rest[:strings.IndexByte(rest, '"')])
		}
	}
	return out
}

// lighthouseDir holds Lighthouse, pinned by its package-lock.json, and
// score.mjs, which runs it.
const lighthouseDir = "testdata/lighthouse"

// Lighthouse scores 100 for accessibility and for best practices on the
// pages people use most, as a phone would load them from go run ./cmd/dev:
// an approval's review page and its withdraw confirm step, an approver's
// inbox, and the dashboard's list and an instance's page.
func TestLighthouse(t *testing.T) {
	chromium, err := browsertest.Path()
	browsertest.Need(t, err)
	nodetest.Install(t, lighthouseDir)
	api, dash := devPages(t, "EXP-LH")
	pages := []string{api + "/api/review/EXP-LH", api + "/api/review/EXP-LH?withdraw=confirm", api + "/api/review?approver=bob.meyer@contoso.com", dash + "/hubs/default/",
		dash + "/hubs/default/instances/EXP-LH"}
	out := nodetest.Run(t, lighthouseDir, []string{"CHROME_PATH=" + chromium}, 4*time.Minute, "score.mjs", pages...)
	var results []struct {
		URL     string
		Seconds float64
		Scores  map[string]int
		Short   []struct {
			ID, Title string
			Items     []string
		}
		Error string
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &results); err != nil || len(results) != len(pages) {
		t.Fatalf("score.mjs printed no scores (%v):\n%s", err, out)
	}
	for _, r := range results {
		t.Logf("%s: %v in %.1f s", r.URL, r.Scores, r.Seconds)
		if r.Error != "" || r.Scores["accessibility"] != 100 || r.Scores["best-practices"] != 100 {
			var b strings.Builder
			for _, a := range r.Short {
				fmt.Fprintf(&b, "\n  %s: %s", a.ID, a.Title)
				for _, item := range a.Items {
					fmt.Fprintf(&b, "\n    - %s", strings.ReplaceAll(item, "\n", "\n      "))
				}
			}
			t.Errorf("%s scores %v %s%s", r.URL, r.Scores, r.Error, b.String())
		}
	}
	if os.Getenv("APPROVALS_LIGHTHOUSE_LOG") != "" {
		t.Log(out)
	}
}
