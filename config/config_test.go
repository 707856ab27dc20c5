package config

import (
	"strings"
	"testing"
)

func TestLoadNamesTheVariableNotTheValue(t *testing.T) {
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "s3cret-port")
	t.Setenv("DTS_WORK_ITEM_STREAM_TIMEOUT", "whenever")
	_, err := Load[Handler]()
	if err == nil {
		t.Fatal("a bad port was accepted")
	}
	msg := err.Error()
	for _, want := range []string{"FUNCTIONS_CUSTOMHANDLER_PORT: not a valid int", "DTS_WORK_ITEM_STREAM_TIMEOUT: not a valid time.Duration"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cret-port") || strings.Contains(msg, "whenever") {
		t.Errorf("error %q echoes a value", msg)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load[Worker]()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIBaseURL != "http://localhost:7071" || cfg.Scheduler.Endpoint != "http://localhost:8080" || cfg.Scheduler.TaskHub != "default" {
		t.Fatalf("defaults = %+v", cfg)
	}
}
