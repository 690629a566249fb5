// Package daprsub is the shared Dapr AppCallback runtime: it implements the
// AppCallback (with the stable bulk method, 1.17+), AppCallbackAlpha (bulk, 1.16) and
// AppCallbackHealthCheck gRPC services of daprd 1.16+, decodes each event into its
// protobuf type, calls a typed handler and maps the outcome to SUCCESS, RETRY or DROP — always with a nil gRPC error.
//
// The rules, in one place:
//   - content type application/octet-stream → binary protobuf (unknown fields kept);
//     application/json or any +json type → protojson (unknown fields ignored);
//     anything else, an empty body, an invalid message or a missing event_id → DROP;
//   - handler returns nil → SUCCESS; an error wrapped with Permanent → DROP;
//     any other error → RETRY; a panic is recovered, logged and answered RETRY.
//
// Every non-SUCCESS outcome is logged once with event_id, topic, trace_id and status.
package daprsub
