// Uploads one file with the real tus-js-client (Node), as a web or React Native app would.
//
//   node tus_js_client_upload.js --endpoint URL --file PATH --token T --sha256 HEX
//        [--chunk-size N] [--stop-after BYTES] [--upload-url URL]
//
// --stop-after aborts the upload once the server has acknowledged that many bytes (a lost
// connection); --upload-url resumes an earlier upload (tus-js-client asks HEAD and goes on
// from there). Prints one JSON line: {url, offset, startedAt, done} or {error}.
"use strict";

const fs = require("fs");
const path = require("path");
const tus = require("tus-js-client");

function options(argv) {
  const out = {};
  for (let k = 2; k < argv.length; k += 2) {
    out[argv[k].replace(/^--/, "")] = argv[k + 1];
  }
  return out;
}

const args = options(process.argv);
const data = fs.readFileSync(args.file);
const chunkSize = Number(args["chunk-size"] || 64 * 1024);
const stopAfter = args["stop-after"] ? Number(args["stop-after"]) : null;
let startedAt = null;

function report(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

const upload = new tus.Upload(data, {
  endpoint: args.endpoint,
  uploadUrl: args["upload-url"] || null,
  chunkSize,
  retryDelays: [100, 500, 1000],
  storeFingerprintForResuming: false,
  headers: { Authorization: `Bearer ${args.token}` },
  metadata: { sha256: args.sha256, filename: path.basename(args.file), filetype: "image/jpeg" },
  onChunkComplete(size, accepted) {
    if (startedAt === null) startedAt = accepted - size;
    if (stopAfter !== null && accepted >= stopAfter && accepted < data.length) {
      upload.abort().then(() => report({ url: upload.url, offset: accepted, startedAt, done: false }));
    }
  },
  onSuccess() {
    report({ url: upload.url, offset: data.length, startedAt, done: true });
  },
  onError(error) {
    report({ error: String(error) });
    process.exitCode = 1;
  },
});
upload.start();
