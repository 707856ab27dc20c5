package httpapi

import (
	"net/http"
	"strconv"
	"time"
)

// busyRetryAfter is how long a client whose start was refused for load is
// told to wait: long enough for a scheduler at its bound to work off much
// of its backlog, and not so short that the refused clients of a burst
// come back as one.
const busyRetryAfter = 2 * time.Second

// busy answers a start the scheduler refused because it has more work
// waiting than it takes on (ErrBusy): 503 with Retry-After, saying that
// nothing was started. A flood of refusals is what this answers, so each
// is logged at debug level only; the embedded scheduler logs them in
// summary.
func (s *server) busy(w http.ResponseWriter, r *http.Request, err error) problem {
	s.log.Debug("start refused: the scheduler is busy", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter/time.Second)))
	return problem{Status: http.StatusServiceUnavailable, Reason: "scheduler_busy",
		Detail: "the scheduler is busy and refused to start the approval: nothing was started; send the same request again after Retry-After seconds"}
}
