// Package charttest tests the taskflow-events Helm chart and the services' Dockerfile template.
//
// The tests run the pinned helm binary at .cache/bin/helm (installed by `make tools`):
// helm lint --strict, helm template of the default and the production values, every rendered
// object decoded strictly into Kubernetes API types (Dapr resources into small structs with
// unknown fields rejected), assertions on what the chart promises, and bad values rejected by
// values.schema.json. A missing helm binary fails the tests; it never skips them.
package charttest
