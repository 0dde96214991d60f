package review

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// FuzzServe: whatever body arrives, the handler answers with either an
// AdmissionReview (HTTP 200, carrying the request's UID) or an HTTP error
// with a v1 Status body, and never panics.
func FuzzServe(f *testing.F) {
	f.Add([]byte(reviewBody("admission.k8s.io/v1", podRequest)))
	f.Add([]byte(reviewBody("admission.k8s.io/v1beta1", `{"uid":"x","object":null}`)))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":{"metadata":{"name":"\u0000"}}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	h := NewHandler(&handlerFunc{fn: func(req admission.Request) admission.Response {
		var v struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if len(req.Object.Raw) > 0 {
			if err := DecodeObject(req.Object, &v); err != nil {
				return admission.Errored(http.StatusBadRequest, err)
			}
		}
		return admission.Allowed("")
	}}, logr.Discard(), nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			var ar admissionv1.AdmissionReview
			if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || ar.Response == nil || ar.Response.UID == "" {
				t.Fatalf("HTTP 200 without a review carrying a UID: %v: %s", err, w.Body.String())
			}
			return
		}
		var st metav1.Status
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != w.Code {
			t.Fatalf("HTTP %d without a matching Status body: %v: %s", w.Code, err, w.Body.String())
		}
	})
}
