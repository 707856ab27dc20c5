package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/approvals-go/approvals/dts/dtsproto"
)

// Tags, the key-value pairs an instance is started with, arrived in the
// protocol after durabletask-go v0.6.0: StartInstance's request carries
// them in field 8, and the instance's ExecutionStarted event in field 9.
// v0.6.0's StartInstance drops them, so the scheduler picks them off the
// request on its way in, hands them to the store through the call's
// context, and the store writes them into the event (where the history and
// a restart keep them) and into the instance row (where reads find them).
const (
	fieldCreateInstanceTags   protowire.Number = 8
	fieldExecutionStartedTags protowire.Number = 9
)

// startTags carries the tags of one StartInstance call to the store.
type startTags struct {
	entries []byte // map entries, each encoded as field fieldExecutionStartedTags
}

type startTagsKey struct{}

// withStartTags wraps v0.6.0's StartInstance handler so that the store
// sees the request's tags.
func withStartTags(handler func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		tags := &startTags{}
		ctx = context.WithValue(ctx, startTagsKey{}, tags)
		return handler(srv, ctx, func(m any) error {
			if err := dec(m); err != nil {
				return err
			}
			if msg, ok := m.(proto.Message); ok {
				tags.entries = retag(msg.ProtoReflect().GetUnknown(), fieldCreateInstanceTags, fieldExecutionStartedTags)
			}
			return nil
		}, ic)
	}
}

// addStartTags copies the tags of the StartInstance call that ctx belongs
// to, if any, into the ExecutionStarted event es.
func addStartTags(ctx context.Context, es protoreflect.Message) {
	if tags, ok := ctx.Value(startTagsKey{}).(*startTags); ok && len(tags.entries) > 0 {
		es.SetUnknown(append(es.GetUnknown(), tags.entries...))
	}
}

// retag returns the occurrences of field from in raw, encoded as field to.
func retag(raw []byte, from, to protowire.Number) []byte {
	var out []byte
	dtsproto.WalkUnknown(raw, func(num protowire.Number, typ protowire.Type, value []byte) {
		if num == from && typ == protowire.BytesType {
			out = protowire.AppendTag(out, to, protowire.BytesType)
			out = append(out, value...)
		}
	})
	return out
}

// tagsColumn is the JSON the instance row holds for the tags of an
// ExecutionStarted event, or nil for none. A malformed entry, which
// cannot come from a protobuf encoder, is skipped rather than failing the
// start.
func tagsColumn(es protoreflect.Message) (any, error) {
	tags := map[string]string{}
	dtsproto.WalkUnknown(es.GetUnknown(), func(num protowire.Number, typ protowire.Type, value []byte) {
		if num != fieldExecutionStartedTags || typ != protowire.BytesType {
			return
		}
		if entry, k := protowire.ConsumeBytes(value); k >= 0 {
			if key, v, ok := mapEntry(entry); ok {
				tags[key] = v
			}
		}
	})
	if len(tags) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return nil, fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

// mapEntry decodes a map<string, string> entry: key is field 1, value 2.
func mapEntry(b []byte) (key, value string, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return "", "", false
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return "", "", false
		}
		switch num {
		case 1:
			key = string(v)
		case 2:
			value = string(v)
		}
		b = b[n+m:]
	}
	return key, value, true
}
