package devstack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The Task API double creates a task once per Idempotency-Key (409 after), and
// CreatedSince hands a poller only the tasks it has not seen.
func TestTaskAPICreatesOncePerKeyAndListsNewTasks(t *testing.T) {
	t.Parallel()
	a := NewTaskAPI()
	post := func(key, id string) int {
		r := httptest.NewRequest(http.MethodPost, "/api/tasks", strings.NewReader(`{"id":"`+id+`","title":"t"}`))
		r.Header.Set("Idempotency-Key", key)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w.Code
	}
	for _, c := range []struct {
		key, id string
		want    int
	}{{"k1", "t1", http.StatusCreated}, {"k2", "t2", http.StatusCreated}, {"k1", "t1", http.StatusConflict}, {"k3", "t3", http.StatusCreated}} {
		if got := post(c.key, c.id); got != c.want {
			t.Errorf("POST %s = %d, want %d", c.key, got, c.want)
		}
	}
	if got := a.Calls(); got != 4 {
		t.Errorf("Calls() = %d, want 4", got)
	}
	ids := func(n int) string {
		var out []string
		for _, task := range a.CreatedSince(n) {
			out = append(out, task.GetId())
		}
		return strings.Join(out, ",")
	}
	for n, want := range map[int]string{0: "t1,t2,t3", 2: "t3", 3: "", 9: ""} {
		if got := ids(n); got != want {
			t.Errorf("CreatedSince(%d) = %q, want %q", n, got, want)
		}
	}
}
