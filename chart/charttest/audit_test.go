package charttest

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// auditSecrets are the audit service's Secret settings of one render case.
type auditSecrets struct {
	owner, ownerKey     string // services.audit.migration.ownerSecret
	runtimeRole         string // services.audit.migration.runtimeRole
	signing, signingKey string // services.audit.signingKeySecret
}

func readAuditSecrets(vals map[string]any) auditSecrets {
	s := func(p ...string) string {
		return fmt.Sprint(lookup(vals, append([]string{"services", "audit"}, p...)...))
	}
	return auditSecrets{
		owner: s("migration", "ownerSecret", "name"), ownerKey: s("migration", "ownerSecret", "key"),
		runtimeRole: s("migration", "runtimeRole"),
		signing:     s("signingKeySecret", "name"), signingKey: s("signingKeySecret", "key"),
	}
}

// TestAuditMigrationJob checks the migration Job: a Helm pre-install/pre-upgrade hook that
// runs the audit image with args [migrate] as the owner role (its own Secret), without a
// Dapr sidecar, with the Deployment's security context and resources, and with a pod that
// neither the audit Service nor its PDB selects.
func TestAuditMigrationJob(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			want := readAuditSecrets(mergedValues(t, c))
			r := decodeAll(t, render(t, c))
			j, d := r.job("audit-migration"), r.deployment("audit")
			if j == nil || d == nil {
				t.Fatalf("audit migration Job %v, audit Deployment %v: want both", j != nil, d != nil)
			}
			for k, v := range map[string]string{
				"helm.sh/hook":               "pre-install,pre-upgrade",
				"helm.sh/hook-delete-policy": "before-hook-creation",
			} {
				if got := j.Annotations[k]; got != v {
					t.Errorf("Job annotation %s = %q, want %q", k, got, v)
				}
			}
			if b := j.Spec.BackoffLimit; b == nil || *b < 0 || *b > 5 {
				t.Errorf("Job backoffLimit = %v, want set, 0 to 5", b)
			}
			// Helm waits for a hook Job up to --timeout (5m by default): the Job's own
			// deadline should end it first, so the failure helm reports is the Job's.
			if a := j.Spec.ActiveDeadlineSeconds; a == nil || *a <= 0 || *a >= 300 {
				t.Errorf("Job activeDeadlineSeconds = %v, want set and below 300", a)
			}
			pod := j.Spec.Template
			if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("Job restartPolicy = %q, want Never", pod.Spec.RestartPolicy)
			}
			for k := range pod.Annotations {
				if strings.HasPrefix(k, "dapr.io/") {
					t.Errorf("Job pod annotation %s: want no Dapr sidecar (daprd would keep the Job from completing)", k)
				}
			}
			if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
				t.Fatalf("Job containers, init containers = %d, %d, want 1, 0", len(pod.Spec.Containers), len(pod.Spec.InitContainers))
			}
			ctr, app := pod.Spec.Containers[0], d.Spec.Template.Spec.Containers[0]
			if ctr.Image != app.Image || ctr.ImagePullPolicy != app.ImagePullPolicy {
				t.Errorf("Job image = %s (%s), want the audit Deployment's %s (%s)", ctr.Image, ctr.ImagePullPolicy, app.Image, app.ImagePullPolicy)
			}
			if len(ctr.Command) != 0 || !slices.Equal(ctr.Args, []string{"migrate"}) {
				t.Errorf("Job command, args = %q, %q, want the image's entrypoint with [migrate]", ctr.Command, ctr.Args)
			}
			e, _ := envVar(ctr, "AUDIT_MIGRATION_DATABASE_URL")
			if ref := secretKeyRef(e); ref == nil || ref.Name != want.owner || ref.Key != want.ownerKey || (ref.Optional != nil && *ref.Optional) {
				t.Errorf("Job AUDIT_MIGRATION_DATABASE_URL = %+v, want required Secret %s key %s", e, want.owner, want.ownerKey)
			}
			if got := envValue(ctr, "AUDIT_RUNTIME_ROLE"); got != want.runtimeRole {
				t.Errorf("Job AUDIT_RUNTIME_ROLE = %q, want %q", got, want.runtimeRole)
			}
			if !equality.Semantic.DeepEqual(ctr.SecurityContext, app.SecurityContext) ||
				!equality.Semantic.DeepEqual(pod.Spec.SecurityContext, d.Spec.Template.Spec.SecurityContext) {
				t.Errorf("Job securityContext differs from the audit Deployment's")
			}
			if !equality.Semantic.DeepEqual(ctr.Resources, app.Resources) {
				t.Errorf("Job resources = %v, want the audit Deployment's %v", ctr.Resources, app.Resources)
			}
			if ok := pod.Spec.AutomountServiceAccountToken; ok == nil || *ok {
				t.Errorf("Job automountServiceAccountToken = %v, want false", ok)
			}
			// A pre-install hook runs before the chart's own objects exist.
			for _, sa := range r.SAs {
				if pod.Spec.ServiceAccountName == sa.Name {
					t.Errorf("Job serviceAccountName = %s, created by the chart after pre-install hooks: the first install would fail", sa.Name)
				}
			}
			for _, s := range r.Services {
				if selects(s.Spec.Selector, pod.Labels) {
					t.Errorf("Service %s selects the migration pod (labels %v)", s.Name, pod.Labels)
				}
			}
			for _, p := range r.PDBs {
				if p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, pod.Labels) {
					t.Errorf("PodDisruptionBudget %s selects the migration pod (labels %v)", p.Name, pod.Labels)
				}
			}
		})
	}
}

// TestOwnerSecretOnlyInTheMigrationJob checks that the owner role's credentials reach the
// migration Job only: no Deployment (any container, env, envFrom, volume or annotation)
// references the owner Secret or sets AUDIT_MIGRATION_DATABASE_URL (with which the service
// would migrate as the owner itself), and no rendered object but the Job names the Secret.
func TestOwnerSecretOnlyInTheMigrationJob(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			owner := readAuditSecrets(mergedValues(t, c)).owner
			manifest := render(t, c)
			r := decodeAll(t, manifest)
			if r.deployment("audit") == nil {
				t.Fatalf("no audit Deployment")
			}
			for _, d := range r.Deployments {
				if refs := podSecretNames(d.Spec.Template); slices.Contains(refs, owner) {
					t.Errorf("Deployment %s references the owner Secret %s (its Secrets: %v)", d.Name, owner, refs)
				}
				for _, ctr := range append(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers...) {
					if _, ok := envVar(ctr, "AUDIT_MIGRATION_DATABASE_URL"); ok {
						t.Errorf("Deployment %s container %s sets AUDIT_MIGRATION_DATABASE_URL: the service would run as the owner", d.Name, ctr.Name)
					}
				}
			}
			if got := objectsNaming(t, manifest, owner); !slices.Equal(got, []string{"Job/taskflow-events-audit-migration"}) {
				t.Errorf("objects naming the owner Secret %s = %v, want the migration Job only", owner, got)
			}
		})
	}
}

// TestAuditSigningKeyMounted checks that the audit Deployment mounts the signing key Secret
// read-only as a file (a directory mount, so a rotated Secret reaches the pod) and points
// AUDIT_SIGNING_KEY_FILE at it, and that no other Deployment mounts the private key.
func TestAuditSigningKeyMounted(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			want := readAuditSecrets(mergedValues(t, c))
			r := decodeAll(t, render(t, c))
			d := r.deployment("audit")
			if d == nil {
				t.Fatalf("no audit Deployment")
			}
			file, ok := signingKeyFile(t, d, want)
			if !ok {
				t.Fatalf("audit Deployment mounts no file of Secret %s key %s", want.signing, want.signingKey)
			}
			app := d.Spec.Template.Spec.Containers[0]
			if got := envValue(app, "AUDIT_SIGNING_KEY_FILE"); got != file {
				t.Errorf("AUDIT_SIGNING_KEY_FILE = %q, want the mounted key %q", got, file)
			}
			for _, other := range r.Deployments {
				if other != d && slices.Contains(podSecretNames(other.Spec.Template), want.signing) {
					t.Errorf("Deployment %s references the audit signing key Secret %s", other.Name, want.signing)
				}
			}
		})
	}
}

// signingKeyFile returns the path at which the audit container reads key signingKey of
// Secret signing, checking the volume is read-only, not a subPath and not world-readable.
func signingKeyFile(t *testing.T, d *appsv1.Deployment, want auditSecrets) (string, bool) {
	t.Helper()
	app := d.Spec.Template.Spec.Containers[0]
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != want.signing {
			continue
		}
		if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
			t.Errorf("signing key volume defaultMode = %v, want no access for others", m)
		}
		item := slices.IndexFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Key == want.signingKey })
		if item < 0 {
			continue
		}
		for _, m := range app.VolumeMounts {
			if m.Name != v.Name {
				continue
			}
			if !m.ReadOnly || m.SubPath != "" {
				t.Errorf("signing key mount = %+v, want read-only, without subPath (which never sees a rotated Secret)", m)
			}
			return path.Join(m.MountPath, v.Secret.Items[item].Path), true
		}
	}
	return "", false
}

// TestAuditMigrationToggle: migration.enabled=false (migrations run elsewhere) renders no
// Job and no reference to the owner Secret, and keeps the Deployment and its signing key;
// a disabled audit service renders no Job either.
func TestAuditMigrationToggle(t *testing.T) {
	off := required("services.audit.migration.enabled=false")
	manifest := render(t, off)
	r := decodeAll(t, manifest)
	if len(r.Jobs) != 0 {
		t.Errorf("Jobs = %d with services.audit.migration.enabled=false, want 0", len(r.Jobs))
	}
	want := readAuditSecrets(mergedValues(t, off))
	if got := objectsNaming(t, manifest, want.owner); len(got) != 0 {
		t.Errorf("objects naming the owner Secret %s with the migration off = %v, want none", want.owner, got)
	}
	d := r.deployment("audit")
	if d == nil {
		t.Fatalf("no audit Deployment with the migration off")
	}
	if _, ok := signingKeyFile(t, d, want); !ok {
		t.Errorf("audit Deployment mounts no signing key with the migration off")
	}

	r = decodeAll(t, render(t, required("services.audit.enabled=false")))
	if len(r.Jobs) != 0 || r.deployment("audit") != nil {
		t.Errorf("Jobs = %d, audit Deployment %v with services.audit.enabled=false, want 0, none", len(r.Jobs), r.deployment("audit") != nil)
	}
}

// TestMigrationJobServiceAccount: the Job uses the release's ServiceAccount only when it
// exists before the hook runs (serviceAccount.create false), or the one it is given.
func TestMigrationJobServiceAccount(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want string
	}{
		{name: "chart creates the account", want: ""},
		{name: "existing account", set: []string{"serviceAccount.create=false", "serviceAccount.name=taskflow"}, want: "taskflow"},
		{name: "own account", set: []string{"services.audit.migration.serviceAccountName=audit-migrator"}, want: "audit-migrator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := decodeAll(t, render(t, required(tt.set...)))
			j := r.job("audit-migration")
			if j == nil {
				t.Fatalf("no audit migration Job")
			}
			if got := j.Spec.Template.Spec.ServiceAccountName; got != tt.want {
				t.Errorf("Job serviceAccountName = %q, want %q", got, tt.want)
			}
		})
	}
}

// podSecretNames lists every Secret a pod template references: env, envFrom and volumes of
// all its containers, image pull Secrets and the Dapr app token annotation.
func podSecretNames(pod corev1.PodTemplateSpec) []string {
	var out []string
	for _, ctr := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		for _, e := range ctr.Env {
			if ref := secretKeyRef(e); ref != nil {
				out = append(out, ref.Name)
			}
		}
		for _, ef := range ctr.EnvFrom {
			if ef.SecretRef != nil {
				out = append(out, ef.SecretRef.Name)
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			out = append(out, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					out = append(out, src.Secret.Name)
				}
			}
		}
	}
	for _, s := range pod.Spec.ImagePullSecrets {
		out = append(out, s.Name)
	}
	if s := pod.Annotations["dapr.io/app-token-secret"]; s != "" {
		out = append(out, s)
	}
	return out
}

func secretKeyRef(e corev1.EnvVar) *corev1.SecretKeySelector {
	if e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.SecretKeyRef
}

// objectsNaming returns "Kind/name" of each rendered document that mentions name as a whole
// word (not as part of a longer name), comments excluded.
func objectsNaming(t *testing.T, manifest, name string) []string {
	t.Helper()
	word := regexp.MustCompile(`(^|[^-a-z0-9.])` + regexp.QuoteMeta(name) + `([^-a-z0-9.]|$)`)
	var out []string
	for _, doc := range docSeparator.Split(manifest, -1) {
		doc = stripComments(doc)
		if !word.MatchString(doc) {
			continue
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("parse rendered document: %v", err)
		}
		out = append(out, head.Kind+"/"+head.Metadata.Name)
	}
	return out
}

// selects reports whether a label selector (matchLabels) matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
