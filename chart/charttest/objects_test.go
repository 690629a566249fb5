package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"
)

// Dapr CRDs, as small structs: a field the chart renders that is not here fails decoding.

type objectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type daprComponent struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	Spec       struct {
		Type         string         `json:"type"`
		Version      string         `json:"version"`
		IgnoreErrors bool           `json:"ignoreErrors,omitempty"`
		InitTimeout  string         `json:"initTimeout,omitempty"`
		Metadata     []daprMetadata `json:"metadata"`
	} `json:"spec"`
	Auth *struct {
		SecretStore string `json:"secretStore"`
	} `json:"auth,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

type daprMetadata struct {
	Name         string `json:"name"`
	Value        string `json:"value,omitempty"`
	SecretKeyRef *struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	} `json:"secretKeyRef,omitempty"`
}

func (c daprComponent) meta(name string) (daprMetadata, bool) {
	for _, m := range c.Spec.Metadata {
		if m.Name == name {
			return m, true
		}
	}
	return daprMetadata{}, false
}

type daprRetry struct {
	Policy      string `json:"policy"`
	Duration    string `json:"duration,omitempty"`
	MaxInterval string `json:"maxInterval,omitempty"`
	MaxRetries  *int   `json:"maxRetries"`
}

type daprCircuitBreaker struct {
	MaxRequests int    `json:"maxRequests"`
	Interval    string `json:"interval"`
	Timeout     string `json:"timeout"`
	Trip        string `json:"trip"`
}

type daprPolicyRefs struct {
	Timeout        string `json:"timeout,omitempty"`
	Retry          string `json:"retry,omitempty"`
	CircuitBreaker string `json:"circuitBreaker,omitempty"`
}

type daprResiliency struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	Spec       struct {
		Policies struct {
			Timeouts        map[string]string             `json:"timeouts"`
			Retries         map[string]daprRetry          `json:"retries"`
			CircuitBreakers map[string]daprCircuitBreaker `json:"circuitBreakers"`
		} `json:"policies"`
		Targets struct {
			Components map[string]struct {
				Inbound  *daprPolicyRefs `json:"inbound,omitempty"`
				Outbound *daprPolicyRefs `json:"outbound,omitempty"`
			} `json:"components"`
		} `json:"targets"`
	} `json:"spec"`
	Scopes []string `json:"scopes,omitempty"`
}

type daprConfiguration struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	Spec       struct {
		Tracing struct {
			SamplingRate string `json:"samplingRate"`
			Otel         *struct {
				EndpointAddress string `json:"endpointAddress"`
				IsSecure        bool   `json:"isSecure"`
				Protocol        string `json:"protocol"`
			} `json:"otel,omitempty"`
		} `json:"tracing"`
		Metric struct {
			Enabled bool `json:"enabled"`
		} `json:"metric"`
		AccessControl *daprAccessControl `json:"accessControl,omitempty"`
	} `json:"spec"`
}

// daprAccessControl is a Configuration's spec.accessControl (dapr pkg/config AccessControlSpec).
type daprAccessControl struct {
	DefaultAction string `json:"defaultAction"`
	TrustDomain   string `json:"trustDomain"`
	Policies      []struct {
		AppID         string `json:"appId"`
		DefaultAction string `json:"defaultAction"`
		TrustDomain   string `json:"trustDomain"`
		Namespace     string `json:"namespace"`
		Operations    []struct {
			Name     string   `json:"name"`
			HTTPVerb []string `json:"httpVerb,omitempty"`
			Action   string   `json:"action"`
		} `json:"operations"`
	} `json:"policies,omitempty"`
}

// rendered holds every object of one helm template run, decoded.
type rendered struct {
	Deployments  []*appsv1.Deployment
	Services     []*corev1.Service
	HPAs         []*autoscalingv2.HorizontalPodAutoscaler
	PDBs         []*policyv1.PodDisruptionBudget
	Ingresses    []*networkingv1.Ingress
	SAs          []*corev1.ServiceAccount
	Jobs         []*batchv1.Job
	NetPols      []*networkingv1.NetworkPolicy
	Components   []daprComponent
	Resiliencies []daprResiliency
	Configs      []daprConfiguration
}

func (r *rendered) deployment(component string) *appsv1.Deployment {
	for _, d := range r.Deployments {
		if d.Labels["app.kubernetes.io/component"] == component {
			return d
		}
	}
	return nil
}

func (r *rendered) job(component string) *batchv1.Job {
	for _, j := range r.Jobs {
		if j.Labels["app.kubernetes.io/component"] == component {
			return j
		}
	}
	return nil
}

func (r *rendered) netpol(component string) *networkingv1.NetworkPolicy {
	for _, p := range r.NetPols {
		if p.Labels["app.kubernetes.io/component"] == component {
			return p
		}
	}
	return nil
}

func (r *rendered) component(name string) *daprComponent {
	for i := range r.Components {
		if r.Components[i].Metadata.Name == name {
			return &r.Components[i]
		}
	}
	return nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll splits helm's output into documents and decodes each strictly: Kubernetes
// kinds through the API machinery's strict YAML serializer, Dapr kinds into the structs
// above with unknown fields disallowed. An unknown kind fails too.
func decodeAll(t *testing.T, manifest string) *rendered {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme, batchv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatalf("register API types: %v", err)
		}
	}
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})

	r := &rendered{}
	for _, doc := range docSeparator.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("parse rendered document: %v\n%s", err, doc)
		}
		what := fmt.Sprintf("%s %s/%s", head.APIVersion, head.Kind, head.Metadata.Name)
		if head.APIVersion == "dapr.io/v1alpha1" {
			switch head.Kind {
			case "Component":
				r.Components = append(r.Components, decodeDapr[daprComponent](t, what, doc))
			case "Resiliency":
				r.Resiliencies = append(r.Resiliencies, decodeDapr[daprResiliency](t, what, doc))
			case "Configuration":
				r.Configs = append(r.Configs, decodeDapr[daprConfiguration](t, what, doc))
			default:
				t.Fatalf("%s: unexpected Dapr kind", what)
			}
			continue
		}
		obj, _, err := strict.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s does not decode strictly into the Kubernetes API types: %v\n%s", what, err, doc)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.Deployments = append(r.Deployments, o)
		case *corev1.Service:
			r.Services = append(r.Services, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.HPAs = append(r.HPAs, o)
		case *policyv1.PodDisruptionBudget:
			r.PDBs = append(r.PDBs, o)
		case *networkingv1.Ingress:
			r.Ingresses = append(r.Ingresses, o)
		case *corev1.ServiceAccount:
			r.SAs = append(r.SAs, o)
		case *batchv1.Job:
			r.Jobs = append(r.Jobs, o)
		case *networkingv1.NetworkPolicy:
			r.NetPols = append(r.NetPols, o)
		default:
			t.Fatalf("%s: the chart renders a kind the test does not check (%T)", what, obj)
		}
	}
	return r
}

func decodeDapr[T any](t *testing.T, what, doc string) T {
	t.Helper()
	var v T
	data, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s does not decode strictly: %v\n%s", what, err, doc)
	}
	return v
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
