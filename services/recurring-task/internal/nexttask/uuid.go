package nexttask

import (
	"strconv"

	"github.com/google/uuid"
)

// namespace is the UUIDv5 namespace of occurrence ids:
// uuid5(NAMESPACE_URL, "https://taskflow.dev/ns/recurring-task") = 5bb750dc-f23d-52a2-860a-7bdde4dce779.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://taskflow.dev/ns/recurring-task"))

// OccurrenceID returns the deterministic id of occurrence index of a series: the RFC 9562
// UUIDv5 of "<series_id>/<index>" in namespace. Every replica and every redelivery
// computes the same id, so the Task API can deduplicate creations on it.
func OccurrenceID(seriesID string, index uint32) string {
	return uuid.NewSHA1(namespace, []byte(seriesID+"/"+strconv.FormatUint(uint64(index), 10))).String()
}
