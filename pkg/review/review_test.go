package review

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"golang.org/x/time/rate"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// handlerFunc adapts a function to admission.Handler and remembers the
// request it was given.
type handlerFunc struct {
	fn    func(admission.Request) admission.Response
	got   *admission.Request
	calls int
}

func (h *handlerFunc) Handle(ctx context.Context, req admission.Request) admission.Response {
	h.calls++
	h.got = &req
	if _, err := logr.FromContext(ctx); err != nil {
		panic("no logger in the handler's context")
	}
	return h.fn(req)
}

const podObject = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"team-a","annotations":{"ovn.kubernetes.io/ip_address":"10.16.0.7"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`

func reviewBody(apiVersion string, req string) string {
	return `{"apiVersion":"` + apiVersion + `","kind":"AdmissionReview","request":` + req + `}`
}

const podRequest = `{"uid":"0d3c3f0e-1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},` +
	`"requestKind":{"group":"","version":"v1","kind":"Pod"},"name":"web-1","namespace":"team-a","operation":"CREATE",` +
	`"userInfo":{"username":"alice","uid":"u-1","groups":["dev","system:authenticated"],"extra":{"scopes":["a","b"]}},` +
	`"object":` + podObject + `,"oldObject":null,"dryRun":true,"options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}}`

// post sends body to h and returns the decoded response review (as the
// standard library decodes it) and the raw body.
func post(t *testing.T, h http.Handler, contentType string, body io.Reader, length int64) (map[string]any, *admissionv1.AdmissionResponse) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/validate", body)
	r.ContentLength = length
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP status %d, want 200 (errors travel in the review): %s", w.Code, w.Body.String())
	}
	var top map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &top); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, w.Body.String())
	}
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v", err)
	}
	if ar.Response == nil {
		t.Fatalf("response review has no response: %s", w.Body.String())
	}
	return top, ar.Response
}

// postFail sends body to h and expects a request that could not be
// judged: HTTP status code with a metav1.Status body.
func postFail(t *testing.T, h http.Handler, contentType string, body io.Reader, length int64, code int) metav1.Status {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/validate", body)
	r.ContentLength = length
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != code {
		t.Fatalf("HTTP status %d, want %d (a failed call, so the failure policy applies): %s", w.Code, code, w.Body.String())
	}
	var st metav1.Status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Kind != "Status" || st.APIVersion != "v1" || st.Code != int32(code) {
		t.Fatalf("body is not a v1 Status with code %d: %v: %s", code, err, w.Body.String())
	}
	return st
}

func TestServeDecodesOnceAndAnswers(t *testing.T) {
	h := &handlerFunc{fn: func(req admission.Request) admission.Response {
		r := admission.Denied("no")
		r.Warnings = []string{"w1"}
		r.AuditAnnotations = map[string]string{"k": "v"}
		return r
	}}
	for _, v := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		t.Run(v, func(t *testing.T) {
			body := reviewBody(v, podRequest)
			top, resp := post(t, NewHandler(h, logr.Discard(), nil), "application/json", strings.NewReader(body), int64(len(body)))
			if top["apiVersion"] != v || top["kind"] != "AdmissionReview" {
				t.Errorf("response type %v %v, want %s AdmissionReview", top["apiVersion"], top["kind"], v)
			}
			if resp.UID != "0d3c3f0e-1" || resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusForbidden ||
				resp.Result.Message != "no" || len(resp.Warnings) != 1 || resp.AuditAnnotations["k"] != "v" {
				t.Errorf("response %+v (result %+v)", resp, resp.Result)
			}
			got := h.got
			dry := true
			want := admissionv1.AdmissionRequest{
				UID:         "0d3c3f0e-1",
				Kind:        metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource:    metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
				RequestKind: &metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Name:        "web-1", Namespace: "team-a", Operation: admissionv1.Create,
				UserInfo: authenticationv1.UserInfo{Username: "alice", UID: "u-1", Groups: []string{"dev", "system:authenticated"},
					Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a", "b"}}},
				Object:  runtime.RawExtension{Raw: []byte(podObject)},
				DryRun:  &dry,
				Options: runtime.RawExtension{Raw: []byte(`{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}`)},
			}
			if !equalJSON(t, got.AdmissionRequest, want) {
				t.Errorf("decoded request\n%+v\nwant\n%+v", got.AdmissionRequest, want)
			}
			if got.OldObject.Raw != nil {
				t.Errorf("oldObject null decoded as %q, want no content", got.OldObject.Raw)
			}
		})
	}
}

// equalJSON compares two values by their standard encoding.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func TestServeCompletesResponses(t *testing.T) {
	body := reviewBody("admission.k8s.io/v1", podRequest)
	cases := []struct {
		name  string
		fn    func(admission.Request) admission.Response
		check func(t *testing.T, r *admissionv1.AdmissionResponse)
	}{
		{"allowed gets code 200", func(admission.Request) admission.Response { return admission.Allowed("") },
			func(t *testing.T, r *admissionv1.AdmissionResponse) {
				if !r.Allowed || r.Result == nil || r.Result.Code != http.StatusOK || r.UID != "0d3c3f0e-1" {
					t.Errorf("response %+v", r)
				}
			}},
		{"patches are encoded with their type", func(admission.Request) admission.Response {
			return admission.Patched("", jsonpatch.Operation{Operation: "add", Path: "/metadata/labels", Value: map[string]string{"a": "b"}})
		}, func(t *testing.T, r *admissionv1.AdmissionResponse) {
			if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch || string(r.Patch) != `[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]` {
				t.Errorf("patch %q type %v", r.Patch, r.PatchType)
			}
		}},
		{"a large patch is streamed and decodes the same", func(admission.Request) admission.Response {
			resp := admission.Allowed("")
			resp.Patch = largePatchBody()
			pt := admissionv1.PatchTypeJSONPatch
			resp.PatchType = &pt
			resp.Warnings = []string{"defaulted"}
			return resp
		}, func(t *testing.T, r *admissionv1.AdmissionResponse) {
			if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch || !bytes.Equal(r.Patch, largePatchBody()) ||
				!r.Allowed || r.UID != "0d3c3f0e-1" || len(r.Warnings) != 1 || r.Result == nil || r.Result.Code != http.StatusOK {
				t.Errorf("large patch: %d bytes (want %d), type %v, response %+v", len(r.Patch), len(largePatchBody()), r.PatchType, r.Warnings)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := NewHandler(&handlerFunc{fn: c.fn}, logr.Discard(), nil)
			_, resp := post(t, h, "application/json", strings.NewReader(body), int64(len(body)))
			c.check(t, resp)
		})
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestServeFailsCallsItCouldNotJudge(t *testing.T) {
	body := reviewBody("admission.k8s.io/v1", podRequest)
	for _, c := range []struct {
		name    string
		fn      func(admission.Request) admission.Response
		code    int
		message string
	}{
		{"a panic", func(admission.Request) admission.Response { panic("boom") }, 500, "boom"},
		{"not synced", func(admission.Request) admission.Response {
			return admission.Errored(http.StatusServiceUnavailable, errors.New("not synced"))
		}, 503, "not synced"},
		{"undecodable object", func(admission.Request) admission.Response {
			return admission.Errored(http.StatusBadRequest, errors.New("decode Pod"))
		}, 400, "decode Pod"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := postFail(t, NewHandler(&handlerFunc{fn: c.fn}, logr.Discard(), nil), "application/json", strings.NewReader(body), int64(len(body)), c.code)
			if st.Status != metav1.StatusFailure || !strings.Contains(st.Message, c.message) {
				t.Errorf("status %+v, want Failure with %q", st, c.message)
			}
		})
	}
	t.Run("refusals stay reviews", func(t *testing.T) {
		for _, resp := range []admission.Response{admission.Denied("no"), admission.Errored(http.StatusUnprocessableEntity, errors.New("invalid"))} {
			_, r := post(t, NewHandler(&handlerFunc{fn: func(admission.Request) admission.Response { return resp }}, logr.Discard(), nil),
				"application/json", strings.NewReader(body), int64(len(body)))
			if r.Allowed || r.UID != "0d3c3f0e-1" {
				t.Errorf("refusal answered as %+v", r)
			}
		}
	})
}

// judgerFunc is a Judger whose judgement is judge's; its Handle is never
// called.
type judgerFunc struct {
	handlerFunc
	judge func(admission.Request) (admission.Response, error)
}

func (j *judgerFunc) Judge(_ context.Context, req admission.Request) (admission.Response, error) {
	return j.judge(req)
}

func TestServeFailsTypedUnjudgedErrors(t *testing.T) {
	body := reviewBody("admission.k8s.io/v1", podRequest)
	for _, c := range []struct {
		name    string
		err     error
		code    int
		message string
	}{
		{"not ready", &Unjudged{Code: http.StatusServiceUnavailable, Err: errors.New("not synced")}, 503, "not synced"},
		{"bad object", fmt.Errorf("wrapped: %w", &Unjudged{Code: http.StatusBadRequest, Err: errors.New("decode Pod")}), 400, "decode Pod"},
		{"any other error", errors.New("broken"), 500, "broken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := &judgerFunc{}
			j.judge = func(admission.Request) (admission.Response, error) { return admission.Response{}, c.err }
			st := postFail(t, NewHandler(j, logr.Discard(), nil), "application/json", strings.NewReader(body), int64(len(body)), c.code)
			if st.Status != metav1.StatusFailure || !strings.Contains(st.Message, c.message) {
				t.Errorf("status %+v, want Failure with %q", st, c.message)
			}
		})
	}
	t.Run("judgements stay reviews", func(t *testing.T) {
		j := &judgerFunc{}
		j.judge = func(admission.Request) (admission.Response, error) { return admission.Denied("no"), nil }
		_, r := post(t, NewHandler(j, logr.Discard(), nil), "application/json", strings.NewReader(body), int64(len(body)))
		if r.Allowed || r.UID != "0d3c3f0e-1" {
			t.Errorf("refusal answered as %+v", r)
		}
	})
}

// TestServeLogsUnjudged: a request the handler could not judge for its
// own failure (5xx) is logged, naming the request, but at most once an
// interval across the handlers sharing an ErrorLog, however many fail,
// and the next line says how many were not logged; one refused as a bad
// object (400) is not logged.
func TestServeLogsUnjudged(t *testing.T) {
	body := reviewBody("admission.k8s.io/v1", podRequest)
	var logged []string
	log := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})
	fail := &Unjudged{Code: http.StatusGatewayTimeout, Err: errors.New("reserve the addresses of team-a/web-1: context deadline exceeded")}
	j := &judgerFunc{}
	j.judge = func(admission.Request) (admission.Response, error) { return admission.Response{}, fail }
	errLog := NewErrorLog(time.Hour)
	a, b := NewHandler(j, log, errLog), NewHandler(j, log, errLog)
	for range 25 {
		postFail(t, a, "application/json", strings.NewReader(body), int64(len(body)), 504)
		postFail(t, b, "application/json", strings.NewReader(body), int64(len(body)), 504)
	}
	if len(logged) != 1 {
		t.Fatalf("50 failed requests through two handlers within the interval logged %d times, want once: %q", len(logged), logged)
	}
	for _, want := range []string{`"uid"="0d3c3f0e-1"`, `"namespace"="team-a"`, `"name"="web-1"`, `"code"=504`, `"notLoggedSinceLast"=0`, "context deadline exceeded"} {
		if !strings.Contains(logged[0], want) {
			t.Errorf("log %s lacks %s", logged[0], want)
		}
	}
	// The interval has passed (as if: the limiter lets the next through).
	errLog.lim.SetLimit(rate.Inf)
	postFail(t, b, "application/json", strings.NewReader(body), int64(len(body)), 504)
	if len(logged) != 2 || !strings.Contains(logged[1], `"notLoggedSinceLast"=49`) {
		t.Errorf("after the interval, logged %q, want a second line saying 49 were not logged", logged)
	}

	fail.Code = http.StatusBadRequest
	logged = nil
	postFail(t, NewHandler(j, log, nil), "application/json", strings.NewReader(body), int64(len(body)), 400)
	if len(logged) != 0 {
		t.Errorf("a bad object was logged: %q", logged)
	}
}

func TestServeFailsBadRequests(t *testing.T) {
	ok := reviewBody("admission.k8s.io/v1", podRequest)
	cases := []struct {
		name, contentType string
		body              io.Reader
		length            int64
		code              int32
		message           string
	}{
		{"empty body", "application/json", http.NoBody, 0, 400, "body is empty"},
		{"content type", "text/plain", strings.NewReader(ok), int64(len(ok)), 400, `content type "text/plain"`},
		{"no content type", "", strings.NewReader(ok), int64(len(ok)), 400, `content type ""`},
		{"malformed", "application/json", strings.NewReader(`{"apiVersion":`), 14, 400, "decode AdmissionReview"},
		{"not an object", "application/json", strings.NewReader(`[1]`), 3, 400, "decode AdmissionReview"},
		{"wrong field type", "application/json", strings.NewReader(reviewBody("admission.k8s.io/v1", `{"uid":5}`)), -1, 400, "uid"},
		{"wrong kind", "application/json", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{}}`), -1, 400, `kind "Pod"`},
		{"wrong version", "application/json", strings.NewReader(`{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{}}`), -1, 400, `apiVersion "admission.k8s.io/v2"`},
		{"no request", "application/json", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), -1, 400, "no request uid"},
		{"no uid", "application/json", strings.NewReader(reviewBody("admission.k8s.io/v1", `{"name":"a"}`)), -1, 400, "no request uid"},
		{"null request", "application/json", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`), -1, 400, "no request"},
		{"declared too large", "application/json", strings.NewReader(ok), MaxRequestBytes + 1, 413, "too large"},
		{"streamed too large", "application/json", endless{}, -1, 413, "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inner := &handlerFunc{fn: func(admission.Request) admission.Response { return admission.Allowed("") }}
			st := postFail(t, NewHandler(inner, logr.Discard(), nil), c.contentType, c.body, c.length, int(c.code))
			if inner.calls != 0 {
				t.Errorf("handler called for a bad request")
			}
			if !strings.Contains(st.Message, c.message) {
				t.Errorf("message %q, want one containing %q", st.Message, c.message)
			}
		})
	}
}

func TestServeReusesBuffersSafely(t *testing.T) {
	// Two different reviews in turn through pooled buffers: the second
	// request must not see the first one's bytes.
	var names []string
	h := NewHandler(&handlerFunc{fn: func(req admission.Request) admission.Response {
		names = append(names, req.Name+"|"+string(req.UID))
		return admission.Allowed("")
	}}, logr.Discard(), nil)
	long := strings.Replace(podRequest, `"name":"web-1"`, `"name":"`+strings.Repeat("x", 5000)+`"`, 1)
	short := strings.Replace(podRequest, `"uid":"0d3c3f0e-1"`, `"uid":"u2"`, 1)
	for _, req := range []string{long, short} {
		b := reviewBody("admission.k8s.io/v1", req)
		post(t, h, "application/json", strings.NewReader(b), int64(len(b)))
	}
	if len(names) != 2 || names[0] != strings.Repeat("x", 5000)+"|0d3c3f0e-1" || names[1] != "web-1|u2" {
		t.Errorf("requests seen: %.40q", names)
	}
}

func TestDecodeObject(t *testing.T) {
	var v struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := DecodeObject(runtime.RawExtension{}, &v); err == nil {
		t.Error("empty object decoded without error")
	}
	if err := DecodeObject(runtime.RawExtension{Raw: []byte(`{"metadata":{"name":"a","uid":"u"}}`)}, &v); err != nil ||
		v.Metadata.Name != "a" || v.Metadata.UID != types.UID("u") {
		t.Errorf("decoded %+v, %v", v, err)
	}
}

// largePatchBody is a patch above largePatch, of every byte value.
func largePatchBody() []byte {
	b := make([]byte, largePatch*3+7)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}
