package dtsproto

import (
	"bytes"
	"testing"

	_ "github.com/microsoft/durabletask-go/backend" // registers the protocol's message types
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/approvals-go/approvals/dts/dtstest"
)

func TestUnknownString(t *testing.T) {
	m := (&emptypb.Empty{}).ProtoReflect()
	if _, ok := String(m, 10); ok {
		t.Fatal("absent field reported present")
	}
	SetString(m, 10, "first")
	SetString(m, 10, "second") // replaces, never duplicates
	SetInt32(m, 2, 5)
	if got, ok := String(m, 10); !ok || got != "second" {
		t.Fatalf("String = %q, %v", got, ok)
	}
	want := protowire.AppendTag(nil, 10, protowire.BytesType)
	want = protowire.AppendString(want, "second")
	want = protowire.AppendTag(want, 2, protowire.VarintType)
	want = protowire.AppendVarint(want, 5)
	b, err := proto.Marshal(m.Interface())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("wire bytes %x, want %x", b, want)
	}
}

func TestLastOccurrenceWins(t *testing.T) {
	var raw []byte
	for _, v := range []string{"a", "b"} {
		raw = protowire.AppendTag(raw, 10, protowire.BytesType)
		raw = protowire.AppendString(raw, v)
	}
	m := (&emptypb.Empty{}).ProtoReflect()
	m.SetUnknown(raw)
	if got, _ := String(m, 10); got != "b" {
		t.Fatalf("String = %q, want b", got)
	}
}

func TestInt32(t *testing.T) {
	m := (&emptypb.Empty{}).ProtoReflect()
	for _, v := range []int32{0, 1, -1, 1 << 30, -1 << 31} {
		SetInt32(m, 1, v)
		if got, ok := Int32(m, 1); !ok || got != v {
			t.Fatalf("Int32 = %d, %v; want %d", got, ok, v)
		}
	}
}

func TestDeclaredFieldsUsedWhenPresent(t *testing.T) {
	resp := dtstest.NewMessage(t, "ActivityResponse")
	// Field 1 is instanceId and field 2 taskId in every version.
	if !SetString(resp, 1, "inst") || !SetInt32(resp, 2, 4) {
		t.Fatal("declared fields not set")
	}
	if got := ActivityResponseKey(resp); got != ActivityKey("inst", 4) {
		t.Fatalf("key %q", got)
	}
	if len(resp.GetUnknown()) != 0 {
		t.Fatal("declared field written as unknown")
	}
	if SetString(resp, 2, "x") || SetInt32(resp, 1, 3) || SetEmptyMessage(resp, 2) {
		t.Fatal("type mismatch accepted")
	}
	wi := dtstest.NewMessage(t, "WorkItem")
	if !SetEmptyMessage(wi, 1) || !HasMessage(wi, 1) {
		t.Fatal("declared message field not set")
	}
}

func TestHealthPing(t *testing.T) {
	m := &emptypb.Empty{}
	SetEmptyMessage(m.ProtoReflect(), FieldWorkItemHealthPing)
	wi := dtstest.Reread(t, m, "WorkItem")
	if !HasMessage(wi, FieldWorkItemHealthPing) || WorkItemKey(wi) != "" {
		t.Fatal("a ping decoded as WorkItem is not recognised as one")
	}
}

func TestMalformedUnknownFields(t *testing.T) {
	m := (&emptypb.Empty{}).ProtoReflect()
	good := protowire.AppendTag(nil, 3, protowire.VarintType)
	good = protowire.AppendVarint(good, 1)
	m.SetUnknown(append(good, 0xff, 0xff)) // truncated tag
	if _, ok := String(m, 10); ok {
		t.Fatal("found a field in garbage")
	}
	SetString(m, 10, "x")
	if got, ok := String(m, 10); !ok || got != "x" {
		t.Fatalf("String after repair = %q, %v", got, ok)
	}
	if got, ok := Int32(m, 3); !ok || got != 1 {
		t.Fatal("well-formed field before the garbage was lost")
	}
}

func FuzzUnknownFields(f *testing.F) {
	f.Add([]byte{0x52, 0x01, 'a'}, "tok")
	f.Add([]byte{0xff}, "")
	f.Fuzz(func(t *testing.T, raw []byte, v string) {
		m := (&emptypb.Empty{}).ProtoReflect()
		m.SetUnknown(raw)
		String(m, 10)
		Int32(m, 1)
		HasMessage(m, 4)
		SetString(m, 10, v)
		if got, ok := String(m, 10); !ok || got != v {
			t.Fatalf("String = %q, %v; want %q", got, ok, v)
		}
		SetInt32(m, 1, 9)
		if got, _ := String(m, 10); got != v {
			t.Fatal("setting one field disturbed another")
		}
	})
}
