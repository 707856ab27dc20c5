package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/approvals-go/approvals/dts/dtsproto"
)

// Client makes the management calls over a connection to a scheduler,
// such as one from dts.Dial with dts.RoleClient, which adds the task hub
// and credentials to every call. It follows the protocol, not the embedded
// scheduler, so it works against the Azure service and the emulator too.
type Client struct {
	conn grpc.ClientConnInterface
}

// New returns a Client that calls over conn.
func New(conn grpc.ClientConnInterface) *Client { return &Client{conn: conn} }

func (c *Client) invoke(ctx context.Context, method string, req, resp proto.Message) error {
	if err := c.conn.Invoke(ctx, dtsproto.MethodPrefix+method, req, resp); err != nil {
		return callError(method, err)
	}
	return nil
}

// callError names the call, and lets errors.Is find api.ErrInstanceNotFound
// when the scheduler answered NotFound.
func callError(method string, err error) error {
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%s: %w: %w", method, api.ErrInstanceNotFound, err)
	}
	return fmt.Errorf("%s: %w", method, err)
}

func pageSize(n int) (int32, error) {
	switch {
	case n < 0 || n > math.MaxInt32:
		return 0, fmt.Errorf("page size %d out of range", n)
	case n == 0:
		// Sent rather than left to the scheduler, so that every scheduler
		// pages the same way.
		return DefaultPageSize, nil
	}
	return int32(n), nil
}

// QueryInstances returns one page of the instances q selects. Pass the
// page's ContinuationToken in the next Query for the next page.
func (c *Client) QueryInstances(ctx context.Context, q Query) (Page, error) {
	size, err := pageSize(q.PageSize)
	if err != nil {
		return Page{}, err
	}
	req := newMessage(msgQueryInstancesRequest)
	iq := req.sub("query")
	iq.setStatuses("runtimeStatus", q.Statuses)
	iq.setTime("createdTimeFrom", q.CreatedFrom)
	iq.setTime("createdTimeTo", q.CreatedTo)
	iq.setInt32("maxInstanceCount", size)
	if q.ContinuationToken != "" {
		iq.setWrapped("continuationToken", q.ContinuationToken)
	}
	if q.IDPrefix != "" {
		iq.setWrapped("instanceIdPrefix", q.IDPrefix)
	}
	iq.setBool("fetchInputsAndOutputs", q.FetchPayloads)
	resp := newMessage(msgQueryInstancesResponse)
	if err := c.invoke(ctx, "QueryInstances", req.message(), resp.message()); err != nil {
		return Page{}, err
	}
	var page Page
	states := resp.m.Get(resp.fd("orchestrationState")).List()
	for i := range states.Len() {
		in, err := instanceOf(fields{states.Get(i).Message()})
		if err != nil {
			return Page{}, fmt.Errorf("QueryInstances: %w", err)
		}
		page.Instances = append(page.Instances, in)
	}
	page.ContinuationToken, _ = resp.wrapped("continuationToken")
	return page, nil
}

// ListInstanceIDs returns one page of the IDs of the instances q selects.
// Pass the page's LastInstanceKey in the next IDQuery for the next page.
func (c *Client) ListInstanceIDs(ctx context.Context, q IDQuery) (IDPage, error) {
	size, err := pageSize(q.PageSize)
	if err != nil {
		return IDPage{}, err
	}
	req := newMessage(msgListInstanceIdsRequest)
	req.setStatuses("runtimeStatus", q.Statuses)
	req.setTime("completedTimeFrom", q.CompletedFrom)
	req.setTime("completedTimeTo", q.CompletedTo)
	req.setInt32("pageSize", size)
	if q.LastInstanceKey != "" {
		req.setWrapped("lastInstanceKey", q.LastInstanceKey)
	}
	resp := newMessage(msgListInstanceIdsResponse)
	if err := c.invoke(ctx, "ListInstanceIds", req.message(), resp.message()); err != nil {
		return IDPage{}, err
	}
	var page IDPage
	for _, id := range resp.strings("instanceIds") {
		page.IDs = append(page.IDs, api.InstanceID(id))
	}
	page.LastInstanceKey, _ = resp.wrapped("lastInstanceKey")
	return page, nil
}

// Instance reads one instance, with the fields newer than v0.6.0's
// metadata. An unknown ID is api.ErrInstanceNotFound.
func (c *Client) Instance(ctx context.Context, id api.InstanceID, fetchPayloads bool) (*Instance, error) {
	req := newMessage(msgGetInstanceRequest)
	req.setStr("instanceId", string(id))
	req.setBool("getInputsAndOutputs", fetchPayloads)
	resp := newMessage(msgGetInstanceResponse)
	if err := c.invoke(ctx, "GetInstance", req.message(), resp.message()); err != nil {
		return nil, err
	}
	if !resp.boolean("exists") {
		return nil, fmt.Errorf("GetInstance %s: %w", id, api.ErrInstanceNotFound)
	}
	return instanceOf(resp.get("orchestrationState"))
}

// History returns the whole history of an instance, in order. An unknown
// ID is api.ErrInstanceNotFound on the embedded scheduler; the Azure
// service may answer it with an empty history instead.
func (c *Client) History(ctx context.Context, id api.InstanceID) ([]*backend.HistoryEvent, error) {
	const method = "StreamInstanceHistory"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream if reading it fails half way
	stream, err := c.conn.NewStream(ctx, &grpc.StreamDesc{StreamName: method, ServerStreams: true}, dtsproto.MethodPrefix+method)
	if err != nil {
		return nil, callError(method, err)
	}
	req := newMessage(msgStreamInstanceHistoryRequest)
	req.setStr("instanceId", string(id))
	if err := stream.SendMsg(req.message()); err != nil {
		return nil, callError(method, err)
	}
	if err := stream.CloseSend(); err != nil {
		return nil, callError(method, err)
	}
	var history []*backend.HistoryEvent
	for {
		chunk := newMessage(msgHistoryChunk)
		err := stream.RecvMsg(chunk.message())
		if errors.Is(err, io.EOF) {
			return history, nil
		}
		if err != nil {
			return nil, callError(method, err)
		}
		events := chunk.m.Get(chunk.fd("events")).List()
		for i := range events.Len() {
			e := &backend.HistoryEvent{}
			if err := concrete(events.Get(i).Message(), e); err != nil {
				return nil, fmt.Errorf("%s: decode event: %w", method, err)
			}
			history = append(history, e)
		}
	}
}

func (c *Client) purge(ctx context.Context, req fields) (deleted int, complete bool, err error) {
	resp := newMessage(msgPurgeInstancesResponse)
	if err := c.invoke(ctx, "PurgeInstances", req.message(), resp.message()); err != nil {
		return 0, false, err
	}
	// An answer without isComplete (older schedulers) did all it will do.
	complete = !resp.has("isComplete") || resp.get("isComplete").boolean("value")
	return int(resp.int32("deletedInstanceCount")), complete, nil
}

// Purge deletes a finished instance and its history, and returns how many
// instances were deleted: 0 when the instance is unknown or has not
// finished.
func (c *Client) Purge(ctx context.Context, id api.InstanceID) (int, error) {
	req := newMessage(msgPurgeInstancesRequest)
	req.m.Set(req.fd("instanceId"), protoreflect.ValueOfString(string(id)))
	req.setBool("isOrchestration", true)
	n, _, err := c.purge(ctx, req)
	return n, err
}

// PurgeBatch purges up to MaxBatch instances at once and returns how many
// were deleted; instances that have not finished are kept.
func (c *Client) PurgeBatch(ctx context.Context, ids []api.InstanceID) (int, error) {
	if len(ids) > MaxBatch {
		return 0, fmt.Errorf("purge batch of %d instances: at most %d per call", len(ids), MaxBatch)
	}
	req := newMessage(msgPurgeInstancesRequest)
	batch := req.sub("instanceBatch")
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = string(id)
	}
	batch.setStrings("instanceIds", list)
	n, _, err := c.purge(ctx, req)
	return n, err
}

// PurgeWhere purges the finished instances f selects and returns how many
// were deleted. A scheduler may stop a large purge part way and say so;
// PurgeWhere then asks again until it is done or ctx ends.
func (c *Client) PurgeWhere(ctx context.Context, f PurgeFilter) (int, error) {
	total := 0
	for {
		req := newMessage(msgPurgeInstancesRequest)
		pf := req.sub("purgeInstanceFilter")
		pf.setTime("createdTimeFrom", f.CreatedFrom)
		pf.setTime("createdTimeTo", f.CreatedTo)
		pf.setStatuses("runtimeStatus", f.Statuses)
		n, complete, err := c.purge(ctx, req)
		total += n
		if err != nil || complete {
			return total, err
		}
	}
}

// Terminate ends a running instance with status Terminated; reason
// becomes its output, as a JSON string (as the official SDKs send it).
func (c *Client) Terminate(ctx context.Context, id api.InstanceID, reason string) error {
	out, err := json.Marshal(reason)
	if err != nil {
		return fmt.Errorf("TerminateInstance: encode reason: %w", err)
	}
	req := newMessage(msgTerminateRequest)
	req.setStr("instanceId", string(id))
	req.setWrapped("output", string(out))
	return c.invoke(ctx, "TerminateInstance", req.message(), &emptypb.Empty{})
}

// Suspend pauses an instance: events sent to it meanwhile are kept and
// processed once it is resumed.
func (c *Client) Suspend(ctx context.Context, id api.InstanceID, reason string) error {
	return c.reasoned(ctx, "SuspendInstance", msgSuspendRequest, id, reason)
}

// Resume continues a suspended instance.
func (c *Client) Resume(ctx context.Context, id api.InstanceID, reason string) error {
	return c.reasoned(ctx, "ResumeInstance", msgResumeRequest, id, reason)
}

func (c *Client) reasoned(ctx context.Context, method string, d protoreflect.MessageDescriptor, id api.InstanceID, reason string) error {
	req := newMessage(d)
	req.setStr("instanceId", string(id))
	if reason != "" {
		req.setWrapped("reason", reason)
	}
	return c.invoke(ctx, method, req.message(), &emptypb.Empty{})
}

// Restart starts a finished instance again with its original name and
// input, under the same ID or, with newInstanceID, a new one, and returns
// the ID it runs under.
func (c *Client) Restart(ctx context.Context, id api.InstanceID, newInstanceID bool) (api.InstanceID, error) {
	req := newMessage(msgRestartInstanceRequest)
	req.setStr("instanceId", string(id))
	req.setBool("restartWithNewInstanceId", newInstanceID)
	resp := newMessage(msgRestartInstanceResponse)
	if err := c.invoke(ctx, "RestartInstance", req.message(), resp.message()); err != nil {
		return "", err
	}
	return api.InstanceID(resp.str("instanceId")), nil
}
