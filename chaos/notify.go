package chaos

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/approvals-go/approvals/webhook"
)

// Notices are what the webhook receiver saw of the worker's notices.
type Notices struct {
	// Received counts delivery attempts, retries included; Deliveries the
	// distinct deliveries among them.
	Received   int `json:"received"`
	Deliveries int `json:"deliveries"`
	// Hung counts the attempts the receiver never answered; it answered
	// every other one 204.
	Hung int `json:"hung"`
	// BadSignature counts attempts whose signature did not verify.
	BadSignature int `json:"bad_signature"`
	// Approvals counts the approvals with a request notice seen at all,
	// and Answered those with one the receiver answered.
	Approvals int `json:"approvals"`
	Answered  int `json:"answered"`
}

// receiver is the webhook the worker posts its notices to. It verifies
// each signature and never answers a share of the deliveries, as a
// receiver that hangs would: every attempt of such a delivery (one
// delivery id) is held until the worker gives up on it or the run ends.
type receiver struct {
	secret []byte
	hang   float64
	seed   uint64
	lis    net.Listener
	srv    *http.Server
	stop   chan struct{}
	once   sync.Once

	mu         sync.Mutex
	n          Notices
	deliveries map[string]bool
	seen       map[string]bool // approval id → some request notice answered
}

// startReceiver listens on a loopback port. A share hang of the
// deliveries, chosen from seed and each delivery's id, is never answered.
func startReceiver(hang float64, seed uint64) (*receiver, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for notices: %w", err)
	}
	rc := &receiver{secret: []byte(hex.EncodeToString(secret)), hang: hang, seed: seed, lis: lis,
		stop: make(chan struct{}), deliveries: map[string]bool{}, seen: map[string]bool{}}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rc.srv.Serve(lis) }()
	return rc, nil
}

// env is how the worker is told to post notices here.
func (rc *receiver) env() []string {
	return []string{"APPROVALS_NOTIFY=webhook", "APPROVALS_WEBHOOK_URL=http://" + rc.lis.Addr().String() + "/notices",
		"APPROVALS_WEBHOOK_SECRET=" + string(rc.secret), "APPROVALS_NOTIFY_ALLOW=127.0.0.1/32"}
}

// hangs reports whether the delivery is one the receiver never answers.
func (rc *receiver) hangs(delivery string) bool {
	h := sha256.New()
	_ = binary.Write(h, binary.LittleEndian, rc.seed)
	io.WriteString(h, delivery)
	return float64(binary.LittleEndian.Uint64(h.Sum(nil))>>11)/float64(1<<53) < rc.hang
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	delivery := r.Header.Get(webhook.DeliveryHeader)
	var note struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(body, &note)
	rc.mu.Lock()
	rc.n.Received++
	if !webhook.Verify(rc.secret, body, r.Header.Get(webhook.SignatureHeader)) {
		rc.n.BadSignature++
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if !rc.deliveries[delivery] {
		rc.deliveries[delivery] = true
		rc.n.Deliveries++
	}
	request := note.Kind == "request" && note.ID != ""
	if _, ok := rc.seen[note.ID]; request && !ok {
		rc.seen[note.ID] = false
	}
	if rc.hangs(delivery) {
		rc.n.Hung++
		rc.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-rc.stop:
		}
		return
	}
	if request {
		rc.seen[note.ID] = true
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// notices returns the figures so far.
func (rc *receiver) notices() Notices {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := rc.n
	n.Approvals = len(rc.seen)
	for _, answered := range rc.seen {
		if answered {
			n.Answered++
		}
	}
	return n
}

// close lets every held request go and stops listening.
func (rc *receiver) close() {
	rc.once.Do(func() {
		close(rc.stop)
		rc.srv.Close()
	})
}
