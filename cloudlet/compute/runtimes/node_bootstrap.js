// cloudlet's Node.js runtime: loads the handler named by _HANDLER from LAMBDA_TASK_ROOT and
// serves invocations from the Lambda Runtime API at AWS_LAMBDA_RUNTIME_API.
//
// Handlers may be async (return a promise), take a callback (event, context, callback), or
// return a plain value (answered once the event loop is empty, as on AWS). console.* writes
// "<ISO time>\t<request id>\t<LEVEL>\t<message>\n" as one log event whatever lines it holds, as
// AWS's runtime does through its telemetry fd: a frame in the output pipe marked with the token
// the host gives in _CLOUDLET_LOG_TOKEN (compute/logs.py); what the function writes to stdout and
// stderr itself is cut into lines by the host.
// Errors answer {"errorType", "errorMessage", "trace"} like the AWS Node runtime.
//
// Handlers wrapped in awslambda.streamifyResponse(async (event, responseStream, context) => ...)
// stream: responseStream is the (chunked) request to the Runtime API's response endpoint in
// streaming mode, so each write reaches the caller as it happens; an error after the stream opened
// travels in the Lambda-Runtime-Function-Error-Type/-Body trailers. awslambda.HttpResponseStream
// .from(stream, {statusCode, headers, cookies}) puts the JSON prelude and 8 null bytes a function
// URL expects before the body.
//
// The AWS SDK for JavaScript v3 is in the runtime's node_modules (NODE_PATH); ES module handlers
// find it too (searchNodePathOnImport).
"use strict";

const http = require("node:http");
const path = require("node:path");
const fs = require("node:fs");
const util = require("node:util");
const { pathToFileURL } = require("node:url");

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = "/2018-06-01/runtime";
let currentRequestId = "";

// ---- logging ---------------------------------------------------------------------------------
const LOG_TOKEN = process.env._CLOUDLET_LOG_TOKEN;
delete process.env._CLOUDLET_LOG_TOKEN;
const LOG_MARK = LOG_TOKEN ? `\u0000cloudlet-log-${LOG_TOKEN}\u0000` : null;

// One log event, written at once (a frame the host reads as one event).
function writeEvent(text) {
  if (LOG_MARK === null) { // no token: AWS's runtime without a telemetry fd writes "\r" for "\n"
    process.stdout.write(text.replace(/\n(?!$)/g, "\r"));
    return;
  }
  const data = Buffer.from(LOG_MARK + JSON.stringify(text) + "\n", "utf8");
  for (let off = 0; off < data.length;) {
    try {
      off += fs.writeSync(1, data, off);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // the pipe is full: the host reads it
    }
  }
}

function logLine(level, message) {
  writeEvent(`${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${message}\n`);
}

// As AWS's runtime (LogPatch): console.log is console.info; AWS_LAMBDA_LOG_LEVEL silences the levels
// below it; console.fatal always logs.
function patchConsole() {
  const levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
  const wanted = (process.env.AWS_LAMBDA_LOG_LEVEL || "").toUpperCase();
  const lowest = Math.max(0, levels.indexOf(wanted));
  const write = (level) => levels.indexOf(level) < lowest && level !== "FATAL"
    ? () => {}
    : (...args) => logLine(level, util.format(...args));
  console.trace = write("TRACE");
  console.debug = write("DEBUG");
  console.info = write("INFO");
  console.log = console.info;
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.fatal = write("FATAL");
}

// ---- Runtime API client ------------------------------------------------------------------------
function request(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: PORT, method, path: BASE + urlPath, agent,
      headers: body === undefined ? headers : { "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorDoc(err) {
  if (err instanceof Error) {
    return { errorType: err.name || "Error", errorMessage: err.message,
      trace: typeof err.stack === "string" ? err.stack.split("\n") : [] };
  }
  if (err !== null && typeof err === "object") {
    return { errorType: err.errorType || typeof err, errorMessage: err.errorMessage || JSON.stringify(err), trace: [] };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

// The runtime logs errors with "stack" where the response carries "trace".
const logDoc = (doc) => ({ errorType: doc.errorType, errorMessage: doc.errorMessage, stack: doc.trace });

function logInvokeError(doc) {
  logLine("ERROR", `Invoke Error \t${JSON.stringify(logDoc(doc))}`);
}

function postError(urlPath, err, logIt) {
  const doc = errorDoc(err);
  if (logIt) logInvokeError(doc);
  return request("POST", urlPath, JSON.stringify(doc), { "Lambda-Runtime-Function-Error-Type": doc.errorType });
}

// ---- response streaming --------------------------------------------------------------------------
const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HIGH_WATER_MARK = Symbol.for("aws.lambda.runtime.handler.highWaterMark");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";
let currentStreamFail = null; // fails the open response stream (uncaught exceptions use it)

class InvalidStreamingOperation extends Error {
  constructor(message) { super(message); this.name = "InvalidStreamingOperation"; }
}

function installGlobals() {
  globalThis.awslambda = {
    ...globalThis.awslambda,
    streamifyResponse(handler, options) {
      handler[STREAMING] = "response";
      if (options && typeof options.highWaterMark === "number") handler[HIGH_WATER_MARK] = options.highWaterMark;
      return handler;
    },
    HttpResponseStream: {
      from(stream, prelude) {
        stream.setContentType(HTTP_INTEGRATION);
        const head = JSON.stringify(prelude);
        stream._onBeforeFirstWrite = (write) => { write(head); write(new Uint8Array(8)); };
        return stream;
      },
    },
  };
}

// The response as a chunked POST in streaming mode, on a connection of its own (the Runtime API
// wants it closed afterwards). Returns the writable stream the handler gets, a promise of the
// Runtime API's answer, and fail(err), which ends the stream with the error trailers.
function openResponseStream(id, highWaterMark) {
  const req = http.request({ host: HOST, port: PORT, method: "POST", path: `${BASE}/invocation/${id}/response`,
    agent: false, highWaterMark, headers: {
      "Lambda-Runtime-Function-Response-Mode": "streaming",
      "Transfer-Encoding": "chunked",
      "Trailer": "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
      "Content-Type": "application/octet-stream",
    } });
  const answered = new Promise((resolve) => {
    req.on("response", (res) => { res.resume(); res.on("end", resolve); res.on("error", resolve); });
    req.on("error", resolve);
  });
  const rawWrite = req.write.bind(req);
  const rawEnd = req.end.bind(req);
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    if (typeof req._onBeforeFirstWrite === "function") req._onBeforeFirstWrite((chunk) => rawWrite(chunk));
  };
  req.setContentType = (type) => {
    if (started) throw new InvalidStreamingOperation("Cannot set content-type, too late.");
    req.setHeader("Content-Type", type);
  };
  req.write = (chunk, encoding, callback) => {
    start();
    const data = typeof chunk === "string" || chunk instanceof Uint8Array ? chunk : JSON.stringify(chunk);
    return rawWrite(data, encoding, callback);
  };
  req.end = (chunk, encoding, callback) => {
    if (typeof chunk === "function") [chunk, encoding, callback] = [undefined, undefined, chunk];
    else if (typeof encoding === "function") [encoding, callback] = [undefined, encoding];
    if (chunk !== undefined && chunk !== null) req.write(chunk, encoding);
    else start(); // a prelude still goes out if nothing was written
    return rawEnd(callback);
  };
  const fail = (err, logIt) => {
    const doc = errorDoc(err);
    if (logIt) logInvokeError(doc);
    if (req.writableEnded) return answered;
    req.addTrailers({ "Lambda-Runtime-Function-Error-Type": doc.errorType,
      "Lambda-Runtime-Function-Error-Body": Buffer.from(JSON.stringify(doc)).toString("base64") });
    rawEnd();
    return answered;
  };
  return { stream: req, answered, fail };
}

function invokeStreaming(handler, next, id) {
  return new Promise((resolve) => {
    const { stream, answered, fail } = openResponseStream(id, handler[HIGH_WATER_MARK]);
    let failed = null;
    const failWith = (err, logIt = true) => {
      if (failed === null) failed = fail(err, logIt).then(resolve, resolve);
      return failed;
    };
    currentStreamFail = failWith;
    let ret;
    try {
      const ctx = makeContext(next.headers, () => {});
      ret = handler(JSON.parse(next.body.toString("utf8") || "{}"), stream, ctx);
    } catch (e) {
      failWith(e);
      return;
    }
    if (!ret || typeof ret.then !== "function") {
      failWith(new Error("Streaming does not support non-async handlers."));
      return;
    }
    // Done when the Runtime API has the whole stream: the handler must end it, as on AWS.
    ret.then((result) => {
      if (result !== undefined) console.warn("Streaming handlers ignore return values.");
      answered.then(resolve, resolve);
    }, (e) => failWith(e === undefined ? new Error("undefined") : e));
  }).finally(() => { currentStreamFail = null; });
}

// ---- loading the handler ---------------------------------------------------------------------------
class RuntimeError extends Error {
  constructor(name, message) { super(message); this.name = name; }
}

// Whether Node loads `file` as an ES module: .mjs, or .js in a package whose type is "module".
function isEsModule(file) {
  if (file.endsWith(".mjs")) return true;
  if (!file.endsWith(".js")) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      try { return JSON.parse(fs.readFileSync(manifest, "utf8")).type === "module"; } catch { return false; }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

// ES modules find packages in the NODE_PATH folders too, as in AWS's runtimes. Node's resolution
// searches the node_modules folders of the module's ancestors, where cloudlet links the runtime's
// SDK (workspace.py); a NODE_PATH folder that none of them is (a layer's) takes a resolution hook
// (node_esm_paths.mjs), whose loader thread costs a cold start tens of milliseconds on Node 20.
function searchNodePathOnImport(file) {
  const { register } = require("node:module");
  if (typeof register !== "function") return;
  const real = (p) => { try { return fs.realpathSync(p); } catch { return null; } };
  const searched = new Set();
  for (let dir = path.dirname(real(file) || file); ; dir = path.dirname(dir)) {
    searched.add(real(path.join(dir, "node_modules")));
    if (path.dirname(dir) === dir) break;
  }
  const paths = (process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean);
  const missed = paths.some((p) => {
    const folder = path.basename(p) === "node_modules" ? real(p) : null;
    return folder !== null && !searched.has(folder);
  });
  if (missed) register(pathToFileURL(path.join(__dirname, "node_esm_paths.mjs")).href, { data: { paths } });
}

async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT;
  const spec = process.env._HANDLER || "";
  const dot = spec.lastIndexOf(".");
  if (dot < 1) throw new RuntimeError("Runtime.MalformedHandlerName", `Bad handler ${spec}`);
  const modPath = spec.slice(0, dot);
  const names = spec.slice(dot + 1).split(".");
  let file = null;
  for (const ext of [".js", ".mjs", ".cjs"]) {
    const candidate = path.resolve(root, modPath + ext);
    if (fs.existsSync(candidate)) { file = candidate; break; }
  }
  if (file === null) {
    throw new RuntimeError("Runtime.ImportModuleError",
      `Error: Cannot find module '${modPath}'\nRequire stack:\n- ${__filename}`);
  }
  if (isEsModule(file)) searchNodePathOnImport(file);
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    if (e instanceof SyntaxError) throw new RuntimeError("Runtime.UserCodeSyntaxError", `${e.name}: ${e.message}`);
    throw e;
  }
  let fn = mod;
  for (const name of names) fn = fn == null ? undefined : (fn[name] !== undefined ? fn[name] : (fn.default || {})[name]);
  if (typeof fn !== "function") {
    throw new RuntimeError("Runtime.HandlerNotFound", `${modPath}.${names.join(".")} is undefined or not exported`);
  }
  return fn;
}

// ---- one invocation ---------------------------------------------------------------------------------
function makeContext(headers, finish) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const env = process.env;
  const ctx = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    succeed: (result) => finish(null, result),
    fail: (err) => finish(err === undefined || err === null ? new Error("handled") : err),
    done: (err, result) => finish(err, result),
  };
  if (headers["lambda-runtime-client-context"]) ctx.clientContext = JSON.parse(headers["lambda-runtime-client-context"]);
  if (headers["lambda-runtime-cognito-identity"]) ctx.identity = JSON.parse(headers["lambda-runtime-cognito-identity"]);
  return ctx;
}

function invoke(handler, next) {
  return new Promise((resolve) => {
    const headers = next.headers;
    const id = headers["lambda-runtime-aws-request-id"];
    currentRequestId = id;
    if (headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"];
    else delete process.env._X_AMZN_TRACE_ID;
    if (handler[STREAMING] === "response") {
      invokeStreaming(handler, next, id).then(resolve, resolve);
      return;
    }
    let answered = false;
    const send = (err, result) => {
      if (answered) return;
      answered = true;
      if (err !== null && err !== undefined) {
        postError(`/invocation/${id}/error`, err, true).then(resolve, resolve);
        return;
      }
      let body;
      try {
        body = result === undefined ? "null" : JSON.stringify(result);
      } catch (e) {
        postError(`/invocation/${id}/error`, e, true).then(resolve, resolve);
        return;
      }
      request("POST", `/invocation/${id}/response`, body).then(resolve, resolve);
    };
    const whenLoopEmpty = (fn) => {
      // Runs fn once nothing else keeps the event loop alive (our idle keep-alive socket is unref'd).
      process.once("beforeExit", fn);
    };
    let ctx;
    const finish = (err, result) => {
      if (ctx && ctx.callbackWaitsForEmptyEventLoop) whenLoopEmpty(() => send(err, result));
      else send(err, result);
    };
    let event;
    try {
      ctx = makeContext(headers, finish);
      event = JSON.parse(next.body.toString("utf8") || "{}");
    } catch (e) {
      send(e);
      return;
    }
    let ret;
    try {
      ret = handler(event, ctx, finish);
    } catch (e) {
      send(e);
      return;
    }
    if (ret && typeof ret.then === "function") {
      ret.then((r) => send(null, r), (e) => send(e === undefined ? new Error("undefined") : e));
    } else if (handler.length < 3) {
      whenLoopEmpty(() => send(null, ret));
    }
  });
}

process.on("uncaughtException", (err) => {
  const id = currentRequestId;
  const doc = errorDoc(err);
  logLine("ERROR", `Uncaught Exception \t${JSON.stringify(logDoc(doc))}`);
  const done = () => process.exit(129);
  if (id && currentStreamFail) currentStreamFail(err, false).then(done, done);
  else if (id) postError(`/invocation/${id}/error`, err, false).then(done, done);
  else done();
});

// os.homedir() as on AWS, where HOME is unset and the function's user has a home in /etc/passwd
// (/home/sbx_user1051, which does not exist): an environment's own uid has no passwd entry here, and
// Node would throw (the AWS SDK asks for it to look for ~/.aws/config).
function patchHomedir() {
  const os = require("node:os");
  const homedir = os.homedir;
  try { homedir(); return; } catch { /* neither HOME nor a passwd entry */ }
  os.homedir = () => { try { return homedir(); } catch { return "/home/sbx_user1051"; } };
  require("node:module").syncBuiltinESMExports();
}

async function main() {
  patchConsole();
  patchHomedir();
  installGlobals();
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    const doc = errorDoc(e); // worded as AWS's runtime words an init error
    logLine("ERROR", `Uncaught Exception \t${JSON.stringify(logDoc(doc))}`);
    await postError("/init/error", e, false).catch(() => {});
    process.exit(1);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    if (next.status !== 200) throw new Error(`Runtime API /next answered ${next.status}`);
    await invoke(handler, next);
  }
}

main().catch((e) => {
  process.stderr.write(`cloudlet runtime: ${e && e.stack ? e.stack : e}\n`);
  process.exit(2);
});
