// Drives the embedded scheduler's management calls with Microsoft's own JS
// SDK client, to show the wire format is the protocol's and not only what
// our Go client expects. go test ./e2e runs it (TestJSSDKManagement); by
// hand, against cmd/dev:
//
//   go run ./cmd/dev -data "" &            # scheduler on localhost:8080
//   cd e2e/testdata/jssdk && npm ci && node check.mjs localhost:8080
import * as grpc from "@grpc/grpc-js";
import { TaskHubGrpcClient, OrchestrationStatus, PurgeInstanceCriteria } from "@microsoft/durabletask-js";

const addr = process.argv[2] ?? "localhost:8080";
const metadataGenerator = async () => { const m = new grpc.Metadata(); m.set("taskhub", "default"); return m; };
const c = new TaskHubGrpcClient({ hostAddress: addr, metadataGenerator });
const ok = (cond, what) => { if (!cond) { console.error("FAIL:", what); process.exit(1); } console.log("ok:", what); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const began = new Date();
const run = began.getTime().toString(36);
const input = (id) => ({ request_id: id, requester: "ana", item: "Laptop", timeout_hours: 1 });

const a = `js-${run}-a`;
await c.scheduleNewOrchestration("human_interaction_orchestrator", input(a), { instanceId: a, tags: { source: "js-sdk" } });
await c.waitForOrchestrationStart(a, false, 30);
for (let i = 0; i < 100; i++) { const s = await c.getOrchestrationState(a, true); if (s.serializedCustomStatus) break; await sleep(50); }

const found = [];
for await (const s of c.getAllInstances({ instanceIdPrefix: `js-${run}`, fetchInputsAndOutputs: true })) found.push(s);
ok(found.length === 1 && found[0].instanceId === a && found[0].runtimeStatus === OrchestrationStatus.RUNNING, "getAllInstances finds the approval by prefix");
ok(found[0].tags?.source === "js-sdk", "tags come back");
ok(JSON.parse(found[0].serializedInput).requester === "ana", "inputs with fetchInputsAndOutputs");

await c.suspendOrchestration(a);
for (let i = 0; i < 100; i++) { if ((await c.getOrchestrationState(a)).runtimeStatus === OrchestrationStatus.SUSPENDED) break; await sleep(50); }
ok((await c.getOrchestrationState(a)).runtimeStatus === OrchestrationStatus.SUSPENDED, "suspendOrchestration");
await c.raiseOrchestrationEvent(a, "approval_response", { is_approved: true, approver: "bob", comments: "fine" });
await sleep(500);
ok((await c.getOrchestrationState(a)).runtimeStatus === OrchestrationStatus.SUSPENDED, "a decision raised while suspended waits");
await c.resumeOrchestration(a);
const done = await c.waitForOrchestrationCompletion(a, true, 30);
ok(done.runtimeStatus === OrchestrationStatus.COMPLETED && JSON.parse(done.serializedOutput).status === "Approved", "resumed approval completes Approved");

const history = await c.getOrchestrationHistory(a);
const types = history.map((e) => e.type);
console.log("history:", types.join(", "));
ok(history.some((e) => e.type === "TaskScheduled" && e.name === "submit_approval_request"), "history: submit_approval_request scheduled");
ok(types.includes("TimerCreated") && types.includes("EventRaised") && types.at(-1) === "ExecutionCompleted", "history: timer, event raised, completed, in order");

const ids = await c.listInstanceIds({ runtimeStatus: [OrchestrationStatus.COMPLETED], pageSize: 1000 });
ok(ids.values.includes(a), "listInstanceIds lists the completed approval");

const b = `js-${run}-b`;
await c.scheduleNewOrchestration("human_interaction_orchestrator", input(b), { instanceId: b });
await c.waitForOrchestrationStart(b, false, 30);
await c.terminateOrchestration(b, "no longer needed");
const term = await c.waitForOrchestrationCompletion(b, true, 30);
ok(term.runtimeStatus === OrchestrationStatus.TERMINATED && JSON.parse(term.serializedOutput) === "no longer needed", "terminate: Terminated with the reason as output");

const again = await c.restartOrchestration(b, true);
ok(again && again !== b, `restartOrchestration with a new ID: ${again}`);
await c.waitForOrchestrationStart(again, false, 30);
await c.terminateOrchestration(again, "done");
await c.waitForOrchestrationCompletion(again, false, 30);

const pages = [];
for await (const p of c.getAllInstances({ instanceIdPrefix: `js-${run}`, pageSize: 1 }).asPages()) pages.push(p.values.map((s) => s.instanceId));
ok(pages.length === 2 && pages.flat().sort().join() === [a, b].sort().join(), `paging one at a time: ${JSON.stringify(pages)}`);

const purged = await c.purgeOrchestration(a);
ok(purged.deletedInstanceCount === 1, "purgeOrchestration by ID");
ok((await c.getOrchestrationHistory(a)).length === 0, "a purged instance has no history");
const criteria = new PurgeInstanceCriteria();
// Only what this run created: a filter cannot name a prefix, so it is
// bounded by the run's start, and other instances are left alone.
criteria.setCreatedTimeFrom(began);
criteria.setRuntimeStatusList([OrchestrationStatus.TERMINATED]);
const byFilter = await c.purgeOrchestration(criteria);
ok(byFilter.deletedInstanceCount >= 2, `purgeOrchestration by filter: ${byFilter.deletedInstanceCount} deleted`);
await c.stop();
console.log("all JS SDK checks passed");
