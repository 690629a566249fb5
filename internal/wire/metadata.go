package wire

import (
	"net/url"
)

// ContentType is the only protobuf content type daprd delivers intact (1.14 to 1.17.5:
// application/protobuf and application/x-protobuf arrive empty, TestDaprdRuntimeBehaviour).
// Payloads are binary protobuf; application/json (protojson) is accepted too.
const ContentType = "application/octet-stream"

// Publish metadata keys daprd turns into the CloudEvent type and id and the Kafka record key.
const (
	MetaType         = "cloudevent.type"
	MetaID           = "cloudevent.id"
	MetaPartitionKey = "partitionKey"
)

// Metadata is the per-event publish metadata our producers set: the CloudEvent type, the
// CloudEvent id (= event_id, when set) and the partition key (when set).
func Metadata(ceType, eventID, key string) map[string]string {
	md := map[string]string{MetaType: ceType}
	if eventID != "" {
		md[MetaID] = eventID
	}
	if key != "" {
		md[MetaPartitionKey] = key
	}
	return md
}

// MetadataQuery encodes md as the query of daprd's HTTP publish API
// (/v1.0/publish/<pubsub>/<topic>?metadata.<key>=<value>).
func MetadataQuery(md map[string]string) string {
	q := make(url.Values, len(md))
	for k, v := range md {
		q.Set("metadata."+k, v)
	}
	return q.Encode()
}
