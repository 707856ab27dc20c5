// Drives durable entities and rewind on the embedded scheduler with
// Microsoft's JS SDK, worker and client: a counter entity hosted by the
// SDK's worker, orchestrations that call, signal and lock it, the client's
// signalEntity, getEntity, getEntities and cleanEntityStorage, and
// rewindInstance of an orchestration whose activity failed once. go test
// ./e2e runs it (TestJSSDKEntities); by hand, against a scheduler with no
// other worker connected:
//
//   go run ./cmd/scheduler -data "" &      # scheduler on localhost:8080
//   cd e2e/testdata/jssdk && npm ci && node entities.mjs localhost:8080
import * as grpc from "@grpc/grpc-js";
import {
  TaskHubGrpcClient, TaskHubGrpcWorker, OrchestrationStatus, EntityInstanceId, TaskEntity, NoOpLogger,
} from "@microsoft/durabletask-js";

const addr = process.argv[2] ?? "localhost:8080";
const metadataGenerator = async () => { const m = new grpc.Metadata(); m.set("taskhub", "default"); return m; };
const ok = (cond, what) => { if (!cond) { console.error("FAIL:", what); process.exit(1); } console.log("ok:", what); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = Date.now().toString(36);

class Counter extends TaskEntity {
  initializeState() { return 0; }
  add(n) { this.state += n; return this.state; }
  get() { return this.state; }
  fail() { throw new Error("counter refuses"); }
  // Signals another counter and starts an orchestration: an entity's own
  // actions.
  spawn(key) {
    this.context.signalEntity(new EntityInstanceId("counter", key), "add", 100);
    this.context.scheduleNewOrchestration("hello", key, { instanceId: `hello-${key}` });
    return "spawned";
  }
}

// Calls the counter, signals it, reads it, and calls it again inside a
// critical section that holds its lock.
const counterOrchestrator = async function* (ctx, key) {
  const id = new EntityInstanceId("counter", key);
  const first = yield ctx.entities.callEntity(id, "add", 5);
  ctx.entities.signalEntity(id, "add", 1);
  const read = yield ctx.entities.callEntity(id, "get");
  let failed = "";
  try {
    yield ctx.entities.callEntity(id, "fail");
  } catch (e) {
    failed = String(e.message ?? e);
  }
  const lock = yield ctx.entities.lockEntities(id);
  const locked = yield ctx.entities.callEntity(id, "add", 10);
  lock.release();
  return { first, read, failed, locked };
};

// Fails on its first run in this process, succeeds after.
let flakyRuns = 0;
const flaky = async (_ctx, input) => {
  flakyRuns++;
  if (flakyRuns === 1) throw new Error("flaky failed on purpose");
  return `${input} done`;
};
const rewindable = async function* (ctx, input) {
  const a = yield ctx.callActivity("steady", input);
  const b = yield ctx.callActivity("flaky", input);
  return [a, b];
};
// Fails through its sub-orchestration, whose activity fails once.
let childRuns = 0;
const rewindParent = async function* (ctx, input) {
  const child = yield ctx.callSubOrchestrator("rewind_child", input, { instanceId: `${ctx.instanceId}-child` });
  return `parent of ${child}`;
};
const rewindChild = async function* (ctx, input) {
  return yield ctx.callActivity("flaky_child", input);
};

const worker = new TaskHubGrpcWorker({ hostAddress: addr, metadataGenerator, logger: new NoOpLogger() });
worker.addNamedEntity("counter", () => new Counter());
worker.addNamedOrchestrator("counter_orchestration", counterOrchestrator);
worker.addNamedOrchestrator("rewindable", rewindable);
worker.addNamedActivity("flaky", flaky);
worker.addNamedActivity("steady", async (_ctx, input) => `${input} steady`);
worker.addNamedOrchestrator("hello", async function* (_ctx, input) { return `hello ${input}`; });
worker.addNamedOrchestrator("rewind_parent", rewindParent);
worker.addNamedOrchestrator("rewind_child", rewindChild);
worker.addNamedActivity("flaky_child", async (_ctx, input) => {
  if (++childRuns === 1) throw new Error("the child's activity failed on purpose");
  return `${input} child`;
});
await worker.start();

const c = new TaskHubGrpcClient({ hostAddress: addr, metadataGenerator });
try {
  // Client signals and reads.
  const a = new EntityInstanceId("Counter", `a-${run}`);
  ok(a.toString() === `@counter@a-${run}`, "entity IDs are @name@key, the name in lower case");
  ok((await c.getEntity(a)) === undefined, "getEntity: an entity never signalled does not exist");
  await c.signalEntity(a, "add", 3);
  await c.signalEntity(a, "add", 4);
  let got;
  for (let i = 0; i < 200; i++) { got = await c.getEntity(a); if (got?.state === 7) break; await sleep(50); }
  ok(got?.state === 7, `signalEntity twice, then getEntity: state ${JSON.stringify(got?.state)}`);
  ok(got.lastModifiedTime instanceof Date && got.lastModifiedTime.getTime() > 0, "getEntity: lastModifiedTime");
  const noState = await c.getEntity(a, false);
  ok(noState && noState.includesState === false, "getEntity without state");

  // Orchestrations calling, signalling and locking an entity.
  const key = `o-${run}`;
  const oid = `entities-${run}`;
  await c.scheduleNewOrchestration("counter_orchestration", key, { instanceId: oid });
  const done = await c.waitForOrchestrationCompletion(oid, true, 60);
  ok(done?.runtimeStatus === OrchestrationStatus.COMPLETED, `orchestration calling the entity completes (${done?.runtimeStatus}: ${done?.serializedOutput ?? done?.failureDetails?.message})`);
  const out = JSON.parse(done.serializedOutput);
  ok(out.first === 5, "callEntity returns the operation's result");
  ok(out.read === 6, "a signal sent before a call is run before it");
  ok(out.failed.includes("counter refuses"), `a failed operation fails the call: ${out.failed}`);
  ok(out.locked === 16, "callEntity inside a critical section (lockEntities)");
  const history = await c.getOrchestrationHistory(oid);
  const types = history.map((e) => e.type);
  ok(types.includes("EntityOperationCalled") && types.includes("EntityOperationCompleted") && types.includes("EntityOperationSignaled"),
    "history records the entity calls, results and signals");
  ok(types.includes("EntityLockRequested") && types.includes("EntityLockGranted") && types.includes("EntityUnlockSent"),
    "history records the lock, its grant and the unlock");
  let o;
  for (let i = 0; i < 100; i++) { o = await c.getEntity(new EntityInstanceId("counter", key)); if (o && !o.lockedBy) break; await sleep(50); }
  ok(o?.state === 16 && !o.lockedBy, "the lock is released after the critical section");

  // An entity's own signals and orchestration starts.
  const spawner = new EntityInstanceId("counter", `s-${run}`);
  await c.signalEntity(spawner, "spawn", `t-${run}`);
  for (let i = 0; i < 200 && !(await c.getOrchestrationState(`hello-t-${run}`)); i++) await sleep(50);
  const hello = await c.waitForOrchestrationCompletion(`hello-t-${run}`, true, 60);
  ok(hello?.runtimeStatus === OrchestrationStatus.COMPLETED && JSON.parse(hello.serializedOutput) === `hello t-${run}`,
    "an entity operation starts an orchestration");
  let spawned;
  for (let i = 0; i < 200; i++) { spawned = await c.getEntity(new EntityInstanceId("counter", `t-${run}`)); if (spawned?.state === 100) break; await sleep(50); }
  ok(spawned?.state === 100, "an entity operation signals another entity");
  await c.purgeOrchestration(`hello-t-${run}`);

  // Query.
  const all = [];
  for await (const e of c.getEntities({ instanceIdStartsWith: "Counter" })) all.push(e);
  const ids = all.map((e) => e.id.toString());
  ok(ids.includes(a.toString()) && ids.includes(`@counter@${key}`), `getEntities by name prefix: ${ids.length} entities`);
  const one = [];
  for await (const e of c.getEntities({ instanceIdStartsWith: `@counter@a-${run}`, includeState: true })) one.push(e);
  ok(one.length === 1 && one[0].state === 7, "getEntities by ID prefix, with state");
  const pages = [];
  for await (const p of c.getEntities({ instanceIdStartsWith: "counter", pageSize: 1 }).asPages()) pages.push(p.values.length);
  ok(pages.length >= 2 && pages.every((n) => n <= 1), `getEntities pages: ${pages}`);

  // Deleting the state, then cleaning storage.
  await c.signalEntity(a, "delete");
  for (let i = 0; i < 200; i++) { if ((await c.getEntity(a)) === undefined) break; await sleep(50); }
  ok((await c.getEntity(a)) === undefined, "the implicit delete operation removes the state: getEntity finds nothing");
  const transient = [];
  for await (const e of c.getEntities({ instanceIdStartsWith: `@counter@a-${run}`, includeTransient: true })) transient.push(e);
  ok(transient.length === 1, "getEntities with includeTransient lists the entity without state");
  const cleaned = await c.cleanEntityStorage();
  ok(cleaned.emptyEntitiesRemoved >= 1, `cleanEntityStorage removes empty entities: ${JSON.stringify(cleaned)}`);
  const after = [];
  for await (const e of c.getEntities({ instanceIdStartsWith: `@counter@a-${run}`, includeTransient: true })) after.push(e);
  ok(after.length === 0, "after cleaning, the empty entity is gone");

  // Rewind: the failed activity runs again and the orchestration completes.
  const rid = `rewind-${run}`;
  await c.scheduleNewOrchestration("rewindable", "job", { instanceId: rid });
  const failed = await c.waitForOrchestrationCompletion(rid, true, 60);
  ok(failed?.runtimeStatus === OrchestrationStatus.FAILED, `the orchestration fails first (${failed?.runtimeStatus})`);
  let refused = "";
  try { await c.rewindInstance(oid, "not failed"); } catch (e) { refused = String(e.message ?? e); }
  ok(refused !== "", `rewinding a completed instance is refused: ${refused}`);
  await c.rewindInstance(rid, "try again");
  let rewound;
  for (let i = 0; i < 600; i++) {
    rewound = await c.getOrchestrationState(rid, true);
    if (rewound?.runtimeStatus === OrchestrationStatus.COMPLETED || (rewound?.runtimeStatus === OrchestrationStatus.FAILED && i > 20)) break;
    await sleep(50);
  }
  ok(rewound?.runtimeStatus === OrchestrationStatus.COMPLETED, `rewound orchestration completes (${rewound?.runtimeStatus}: ${rewound?.serializedOutput ?? rewound?.failureDetails?.message})`);
  ok(JSON.stringify(JSON.parse(rewound.serializedOutput)) === JSON.stringify(["job steady", "job done"]), `output after the rewind: ${rewound.serializedOutput}`);
  ok(flakyRuns === 2, `the failed activity ran again, the one that succeeded did not (flaky ran ${flakyRuns} times)`);
  const rh = (await c.getOrchestrationHistory(rid)).map((e) => e.type);
  console.log("history after rewind:", rh.join(", "));
  ok(rh.includes("ExecutionRewound") && !rh.includes("TaskFailed") && rh.at(-1) === "ExecutionCompleted", "history: ExecutionRewound, no TaskFailed, completed");
  ok(rh.filter((t) => t === "TaskScheduled").length === 2, "history: the steady activity is not scheduled again");

  // Rewind of a parent whose sub-orchestration failed: both are rewound.
  const pid = `rewind-parent-${run}`;
  await c.scheduleNewOrchestration("rewind_parent", "job", { instanceId: pid });
  const pfailed = await c.waitForOrchestrationCompletion(pid, true, 60);
  ok(pfailed?.runtimeStatus === OrchestrationStatus.FAILED, "the parent fails with its sub-orchestration");
  await c.rewindInstance(pid, "again, with the child");
  let parent;
  for (let i = 0; i < 600; i++) {
    parent = await c.getOrchestrationState(pid, true);
    if (parent?.runtimeStatus === OrchestrationStatus.COMPLETED) break;
    await sleep(50);
  }
  ok(parent?.runtimeStatus === OrchestrationStatus.COMPLETED && JSON.parse(parent.serializedOutput) === "parent of job child",
    `a rewound parent reruns its failed sub-orchestration (${parent?.runtimeStatus}: ${parent?.serializedOutput})`);
  const child = await c.getOrchestrationState(`${pid}-child`, true);
  ok(child?.runtimeStatus === OrchestrationStatus.COMPLETED && childRuns === 2, "the sub-orchestration was rewound and completed");

  for (const id of [oid, rid, pid, `${pid}-child`]) await c.purgeOrchestration(id);
} finally {
  await worker.stop();
  await c.stop();
}
console.log("all entity and rewind checks passed");
process.exit(0);
