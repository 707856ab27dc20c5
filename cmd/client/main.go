// Command client is the console client of the Python sample, over the HTTP
// API: it creates an approval request, shows its status, asks you to approve
// or reject it, and prints the outcome.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/approvals-go/approvals/internal/cli"
)

type options struct {
	baseURL   string
	code      string
	requester string
	item      string
	timeout   time.Duration
	approve   bool
	reject    bool
	none      bool
	approver  string
	comments  string
	wait      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.baseURL, "url", cli.EnvOr("APPROVALS_URL", "http://localhost:7071"), "base URL of the HTTP API (env APPROVALS_URL)")
	flag.StringVar(&o.code, "code", os.Getenv("APPROVALS_FUNCTION_KEY"), "function key for a deployed API (env APPROVALS_FUNCTION_KEY)")
	flag.StringVar(&o.requester, "requester", "console-user", "who asks for approval")
	flag.StringVar(&o.item, "item", "Vacation request", "what needs approval")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "how long the approval waits for a decision")
	flag.BoolVar(&o.approve, "approve", false, "approve without asking")
	flag.BoolVar(&o.reject, "reject", false, "reject without asking")
	flag.BoolVar(&o.none, "no-decision", false, "send no decision and wait for the outcome (for example a timeout)")
	flag.StringVar(&o.approver, "approver", "console-approver", "who decides")
	flag.StringVar(&o.comments, "comments", "", "comments sent with the decision")
	flag.DurationVar(&o.wait, "wait", 0, "how long to wait for the outcome; 0 means the approval timeout plus a minute")
	cli.Parse("Usage: client [flags]\n\nThe console client of the Python sample, over the HTTP API: creates an approval\nrequest, shows its status, asks you to approve or reject it (unless -approve,\n-reject or -no-decision says), and prints the outcome.")
	if err := run(o, os.Stdin, os.Stdout); err != nil {
		cli.Fail("client", 1, err)
	}
}

type api struct {
	base string
	code string
	http *http.Client
}

func (a api) url(path string) string {
	u := strings.TrimRight(a.base, "/") + path
	if a.code != "" {
		u += "?" + url.Values{"code": {a.code}}.Encode()
	}
	return u
}

// call sends a request and decodes the JSON answer; problem responses become
// errors carrying the server's explanation.
func (a api) call(method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url(path), r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w (is the API running? start it with: go run ./cmd/dev)", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %s with an unreadable body: %w", method, path, resp.Status, err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, out, fmt.Errorf("%s %s: %s: %v", method, path, resp.Status, out["detail"])
	}
	return resp.StatusCode, out, nil
}

func run(o options, stdin io.Reader, stdout io.Writer) error {
	if btoi(o.approve)+btoi(o.reject)+btoi(o.none) > 1 {
		return errors.New("give at most one of -approve, -reject and -no-decision")
	}
	a := api{base: o.baseURL, code: o.code, http: &http.Client{Timeout: 30 * time.Second}}
	id := "approval-" + uuid.NewString()[:8]
	_, _, err := a.call(http.MethodPost, "/api/approvals", map[string]any{
		"request_id": id, "requester": o.requester, "item": o.item, "timeout": o.timeout.String(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created approval request %s for %q by %s\n", id, o.item, o.requester)
	// Wait until the approver has been sent the request, as a person
	// would only decide then; the deadline and the page exist from then on.
	var status map[string]any
	for submitted := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, status, err = a.call(http.MethodGet, "/api/approvals/"+id, nil)
		if err != nil {
			return err
		}
		if status["submitted_at"] != nil || status["status"] != "Pending" || time.Now().After(submitted) {
			break
		}
	}
	fmt.Fprintf(stdout, "Initial status: %v\n", status["status"])
	if link, ok := status["approval_url"].(string); ok {
		fmt.Fprintf(stdout, "Approval page: %s\n", link)
	}

	decide := !o.none
	approved := o.approve
	if decide && !o.approve && !o.reject {
		fmt.Fprint(stdout, "Press Enter to approve, or type reject to reject: ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
			return errors.New("no answer on standard input; use -approve, -reject or -no-decision when running without a terminal")
		}
		approved = !strings.EqualFold(strings.TrimSpace(line), "reject")
	}
	if decide {
		_, _, err := a.call(http.MethodPost, "/api/approvals/"+id+"/decision", map[string]any{
			"approved": approved, "approver": o.approver, "comments": o.comments,
		})
		if err != nil {
			return err
		}
		verb := "rejection"
		if approved {
			verb = "approval"
		}
		fmt.Fprintf(stdout, "Submitted %s as %s\n", verb, o.approver)
	} else {
		fmt.Fprintf(stdout, "Not deciding; waiting up to %s for the outcome\n", o.timeout)
	}

	wait := o.wait
	if wait == 0 {
		wait = o.timeout + time.Minute
	}
	deadline := time.Now().Add(wait)
	for {
		code, status, err := a.call(http.MethodGet, "/api/approvals/"+id, nil)
		if err != nil {
			return err
		}
		if code == http.StatusOK {
			fmt.Fprintf(stdout, "Final status: %v\n", status["status"])
			result, _ := json.MarshalIndent(status["result"], "", "  ")
			fmt.Fprintf(stdout, "Result: %s\n", result)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("approval %s is still %v after %s", id, status["status"], wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
