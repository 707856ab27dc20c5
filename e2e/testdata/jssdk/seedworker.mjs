// The seed's worker.py, translated line for line to Microsoft's Durable
// Task JS SDK: the orchestrator human_interaction_orchestrator and the
// activities submit_approval_request and process_approval, with exactly
// the seed's shapes and nothing of ours (no expires_at, no features, no
// comments in the result, no withdrawal, no decision rules). It is the
// worker "we did not write in Go" that go test ./e2e -run TestSeedWorker
// puts behind our scheduler and handler; by hand, against cmd/scheduler:
//
//   go run ./cmd/scheduler -data "" &      # scheduler on localhost:8080
//   cd e2e/testdata/jssdk && npm ci && node seedworker.mjs
//
// ENDPOINT and TASKHUB are read as worker.py reads them (defaults
// http://localhost:8080 and default); only plaintext endpoints are
// supported, as the emulator's.
import * as grpc from "@grpc/grpc-js";
import { TaskHubGrpcWorker, whenAny } from "@microsoft/durabletask-js";

// get is Python's dict.get: the default only when the key is absent, so a
// null stays null, as None stays None in worker.py.
const get = (obj, key, dflt) => (Object.hasOwn(obj, key) ? obj[key] : dflt);

// isoformat is Python's datetime.isoformat() on a naive datetime:
// microseconds when there are any, and no time zone. worker.py stamps
// submitted_at and processed_at with datetime.now() (the machine's local
// time) and timed_out_at with the orchestration's current UTC time, both
// naive, so neither reads as RFC 3339.
const pad = (n, w = 2) => String(n).padStart(w, "0");
function isoformat(d, utc) {
  const f = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  const s = `${pad(f[0], 4)}-${pad(f[1])}-${pad(f[2])}T${pad(f[3])}:${pad(f[4])}:${pad(f[5])}`;
  return f[6] ? `${s}.${pad(f[6] * 1000, 6)}` : s;
}

// Activity functions

function submit_approval_request(ctx, requestData) {
  const requestId = get(requestData, "request_id");
  const requester = get(requestData, "requester");
  const item = get(requestData, "item");
  console.log(`Submitting approval request ${requestId} from ${requester} for ${item}`);
  return {
    request_id: requestId,
    status: "Pending",
    submitted_at: isoformat(new Date(), false),
    approval_url: `http://localhost:8000/api/approvals/${requestId}`,
  };
}

function process_approval(ctx, approvalData) {
  const requestId = get(approvalData, "request_id");
  const isApproved = get(approvalData, "is_approved");
  const approver = get(approvalData, "approver");
  const approvalStatus = isApproved ? "Approved" : "Rejected";
  console.log(`Processing ${approvalStatus} request ${requestId} by ${approver}`);
  return {
    request_id: requestId,
    status: approvalStatus,
    processed_at: isoformat(new Date(), false),
    approver: approver,
  };
}

// Orchestrator function

async function* human_interaction_orchestrator(ctx, inputData) {
  const requestId = get(inputData, "request_id");
  const requester = get(inputData, "requester");
  const item = get(inputData, "item");
  const timeoutHours = get(inputData, "timeout_hours", 24);
  if (!ctx.isReplaying) console.log(`Starting human interaction orchestration for request ${requestId}`);

  const requestData = { request_id: requestId, requester: requester, item: item };
  const submissionResult = yield ctx.callActivity("submit_approval_request", requestData);

  // Make the status available via custom status
  ctx.setCustomStatus(submissionResult);

  // A durable timer for the timeout, then the event, whichever comes first
  const timeoutDeadline = new Date(ctx.currentUtcDateTime.getTime() + timeoutHours * 3600 * 1000);
  const timeoutTask = ctx.createTimer(timeoutDeadline);
  const approvalTask = ctx.waitForExternalEvent("approval_response");
  const winnerTask = yield whenAny([approvalTask, timeoutTask]);

  let result = {};
  if (winnerTask === approvalTask) {
    const approvalData = yield approvalTask;
    if (!ctx.isReplaying) console.log(`Received approval response for request ${requestId}`);
    result = yield ctx.callActivity("process_approval", {
      request_id: requestId,
      is_approved: get(approvalData, "is_approved", false),
      approver: get(approvalData, "approver", "Unknown"),
    });
  } else {
    if (!ctx.isReplaying) console.log(`Request ${requestId} timed out waiting for approval`);
    result = { request_id: requestId, status: "Timeout", timed_out_at: isoformat(ctx.currentUtcDateTime, true) };
  }
  return result;
}

const taskhub = process.env.TASKHUB || "default";
const endpoint = process.env.ENDPOINT || "http://localhost:8080";
console.log(`Using taskhub: ${taskhub}`);
console.log(`Using endpoint: ${endpoint}`);
if (!endpoint.startsWith("http://")) {
  console.error("only a plaintext http:// endpoint is supported (the emulator's, or cmd/scheduler's)");
  process.exit(2);
}
const metadataGenerator = async () => { const m = new grpc.Metadata(); m.set("taskhub", taskhub); return m; };
const worker = new TaskHubGrpcWorker({ hostAddress: endpoint.slice("http://".length), metadataGenerator });
worker.addNamedActivity("submit_approval_request", submit_approval_request);
worker.addNamedActivity("process_approval", process_approval);
worker.addNamedOrchestrator("human_interaction_orchestrator", human_interaction_orchestrator);
await worker.start();
console.log("seed worker started");
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => { await worker.stop(); process.exit(0); });
}
