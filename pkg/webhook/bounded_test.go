package webhook

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/pkg/admit"
)

// invalid answers exactly what apierrors.NewInvalid answers (status,
// causes, message, repeated messages once), for any number of causes.
func TestInvalidIsNewInvalid(t *testing.T) {
	t.Parallel()
	p := field.NewPath("metadata", "annotations").Key("ovn.kubernetes.io/ip_pool")
	e := func(v, d string) *field.Error { return field.Invalid(p, v, d) }
	for _, errs := range []field.ErrorList{
		nil,
		{e("10.16.0.5", "is taken [pod-ip-taken]")},
		{e("a", "x"), e("b", "y"), field.Forbidden(field.NewPath("spec"), "no")},
		{e("a", "x"), e("a", "x"), e("b", "y")},
		{e("a", "x"), e("a", "x")},
	} {
		got, want := invalid(podGK, "web-0", errs), apierrors.NewInvalid(podGK, "web-0", errs)
		if !reflect.DeepEqual(got.ErrStatus, want.ErrStatus) {
			t.Errorf("%d causes:\n got %#v\nwant %#v", len(errs), got.ErrStatus, want.ErrStatus)
		}
	}
}

// A request the pipeline stopped for want of time is answered 504: the
// API server applies the failure policy to an answer.
func TestTimeoutIsGatewayTimeout(t *testing.T) {
	t.Parallel()
	err := &admit.Error{Reason: admit.Timeout, Err: context.DeadlineExceeded}
	if got := statusOf(err); got != http.StatusGatewayTimeout {
		t.Fatalf("statusOf(timeout) = %d", got)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("timeout error does not wrap the context's")
	}
}

// Every webhook's timeoutSeconds leaves the handler's Budget and 500 ms
// for the answer: the handler answers before the API server gives up.
func TestBudgetFitsEveryTimeout(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for doc := range strings.SplitSeq(string(b), "\n---") {
		var cfg struct {
			Webhooks []struct {
				Name           string `json:"name"`
				TimeoutSeconds *int   `json:"timeoutSeconds"`
			} `json:"webhooks"`
		}
		if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
			t.Fatal(err)
		}
		for _, w := range cfg.Webhooks {
			seen++
			timeout := 10 * time.Second // the API server's default
			if w.TimeoutSeconds != nil {
				timeout = time.Duration(*w.TimeoutSeconds) * time.Second
			}
			if timeout < Budget+500*time.Millisecond {
				t.Errorf("%s: timeoutSeconds %v leaves less than 500 ms over the handler's budget %v", w.Name, timeout, Budget)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no webhooks in config/webhook/manifests.yaml")
	}
}
