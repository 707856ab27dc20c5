package approval_test

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// TestTimeoutLimitsAreExact: the limits hold to the nanosecond whether a
// timeout comes as a duration or in hours. In hours as a float, 8784h1ns
// is 8784 exactly, so a duration is checked before it becomes hours.
func TestTimeoutLimitsAreExact(t *testing.T) {
	for d, says := range map[time.Duration]string{
		approval.MaxTimeout:                   "",
		approval.MaxTimeout + time.Nanosecond: "at most 8784 hours (366 days)",
		approval.MaxTimeout + 24*time.Hour:    "at most 8784 hours",
		approval.MinTimeout:                   "",
		approval.MinTimeout - time.Nanosecond: "at least 1s",
		0:                                     "at least 1s",
		-time.Hour:                            "at least 1s",
		math.MaxInt64:                         "at most",
	} {
		err := approval.ValidateTimeout(d)
		if says == "" {
			if err != nil {
				t.Errorf("ValidateTimeout(%v) = %v, want nil", d, err)
			}
			continue
		}
		if fe, ok := approval.AsFieldError(err); !ok || fe.Field != "timeout_hours" || !strings.Contains(fe.Reason, says) {
			t.Errorf("ValidateTimeout(%v) = %v, want a timeout_hours error saying %q", d, err, says)
		}
	}
	if (approval.MaxTimeout + time.Nanosecond).Hours() != approval.MaxTimeout.Hours() {
		t.Fatal("8784h1ns is no longer 8784 hours as a float: the reason for checking durations is gone")
	}

	for _, c := range []struct {
		hours float64
		says  string
	}{
		{8784, ""},
		{8784.000001, "at most 8784 hours"},
		{math.Nextafter(8784, math.Inf(1)), "at most 8784 hours"},
		{1e300, "at most 8784 hours"},
		{1.0 / 3600, ""},
		{math.Nextafter(1.0/3600, 0) * (1 - 1e-9), "at least 1s"},
		{0, "positive"},
		{math.Copysign(0, -1), "positive"},
		{-1, "positive"},
		{math.NaN(), "positive"},
		{math.Inf(1), "positive"},
	} {
		h := c.hours
		err := approval.Request{Requester: "ana", Item: "pen", TimeoutHours: &h}.Validate()
		if c.says == "" {
			if err != nil {
				t.Errorf("timeout_hours %v: %v, want accepted", h, err)
			}
			continue
		}
		if fe, ok := approval.AsFieldError(err); !ok || fe.Field != "timeout_hours" || !strings.Contains(fe.Reason, c.says) {
			t.Errorf("timeout_hours %v: %v, want a timeout_hours error saying %q", h, err, c.says)
		}
	}
}

// TestTimeoutInHoursIsTheDurationMeant: a timeout given in hours waits
// exactly as long as the same timeout given as a duration, seconds
// included, although most of them are not exact in binary.
func TestTimeoutInHoursIsTheDurationMeant(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 65 * time.Second, 119 * time.Millisecond, 90 * time.Second, time.Hour + time.Second, approval.MaxTimeout} {
		h := d.Hours()
		if got := (approval.Request{TimeoutHours: &h}).Timeout(); got != d {
			t.Errorf("%v as %v hours waits %v", d, h, got)
		}
	}
	if got := (approval.Request{}).Timeout(); got != 24*time.Hour {
		t.Errorf("the default waits %v, want 24h", got)
	}
}

// TestSame: a start repeated is the same request whatever form its
// deadline and empty lists take, and another request when any field
// differs, including fields added after Same was written.
func TestSame(t *testing.T) {
	day := 24.0
	base := approval.Request{RequestID: "r1", Requester: "ana", Item: "pen"}
	again := base
	again.TimeoutHours, again.Approvers, again.EscalateTo = &day, []string{}, []string{}
	if !base.Same(again) || !again.Same(base) {
		t.Fatal("the default deadline given as 24 hours, or empty lists, make another request")
	}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		other := base
		f := reflect.ValueOf(&other).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Pointer:
			hours := 2.0
			f.Set(reflect.ValueOf(&hours))
		default:
			t.Fatalf("%s: no change written for a %s", v.Type().Field(i).Name, f.Kind())
		}
		if base.Same(other) {
			t.Errorf("a request that differs in %s is the same", v.Type().Field(i).Name)
		}
	}
}
