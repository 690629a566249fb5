package devstack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/taskflow/taskflow-events/internal/wire"
)

// Publish sends msg as binary protobuf through a sidecar's HTTP API, as the Task API does.
func Publish(ctx context.Context, daprHTTP, topic, ceType, key string, msg wire.Event) error {
	data, err := proto.Marshal(msg)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("%s/v1.0/publish/taskflow-pubsub/%s?%s", daprHTTP, topic, wire.MetadataQuery(wire.Metadata(ceType, msg.GetEventId(), key)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(data)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("publish %s: %w", ceType, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("publish %s: HTTP %d: %s", ceType, resp.StatusCode, body)
	}
	return nil
}
