// Package review serves Kubernetes AdmissionReviews over HTTP: it reads the
// request body, decodes the review once, hands the request to an
// admission.Handler and writes the response.
//
// It replaces controller-runtime's admission.Webhook on the hot path. That
// one decodes every review twice (once to sniff its apiVersion and kind,
// once into the typed review) with the standard library's two-pass decoder
// and builds a request logger with five values for every request; on a
// 2.7 KB Pod review those steps were about half of the CPU time of an
// admission. Here the review is decoded in one pass with encoding/json/v2
// semantics (github.com/go-json-experiment/json, the mirror of the Go 1.27
// standard library package), buffers are pooled, and the logger is only
// extended when something is logged.
//
// A judgement, allowing or refusing, is an AdmissionReview response (HTTP
// 200) with the request's apiVersion (admission.k8s.io/v1 or v1beta1) and
// UID, and a JSON patch encoded with its patch type. A request that could
// not be judged (a review or object that does not decode, an inventory not
// synced yet, a handler that panicked) is answered with that HTTP status
// (400, 413, 500, 503, 504) and a metav1.Status body instead: the API server
// counts a non-2xx answer as a failed call and applies the webhook's
// failurePolicy (Ignore admits, Fail refuses), whereas an AdmissionReview
// with allowed: false would refuse the request whatever the policy.
// controller-runtime's admission.Webhook answers such errors with HTTP 200
// and allowed: false, so a fail-open webhook built on it refuses requests
// it could not judge.
package review

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jsonv1 "encoding/json"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// MaxRequestBytes bounds a request body. The API server limits objects to
// about 3 MiB; an AdmissionReview of an update carries two of them.
const MaxRequestBytes = 7 << 20

// The AdmissionReview versions served. Both have the same shape.
const (
	apiVersionV1      = "admission.k8s.io/v1"
	apiVersionV1beta1 = "admission.k8s.io/v1beta1"
	kindReview        = "AdmissionReview"
)

// decodeOptions are the options every decode uses. Member names match
// case-sensitively, as in Kubernetes' own decoding (sigs.k8s.io/json);
// unknown members are ignored. Duplicate names and invalid UTF-8, which
// the API server never sends, are tolerated rather than refused, as the
// decoders Kubernetes uses do: a webhook must not refuse what the API
// server accepted.
//
// String lists are decoded into slices of their exact length
// (exactStrings), so that an object of 100k list entries allocates its
// entries once, not five times over.
var decodeOptions = json.JoinOptions(
	baseDecodeOptions,
	json.WithUnmarshalers(json.UnmarshalFromFunc(exactStrings)),
)

// baseDecodeOptions are decodeOptions without the []string decoder, which
// uses them for the arrays it has counted.
var baseDecodeOptions = json.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// Unmarshal decodes the JSON object in data into v with the options
// reviews are decoded with. v must be a non-nil pointer.
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v, decodeOptions)
}

// DecodeObject decodes an object of a request (Object or OldObject) into
// v; empty content is an error, as with controller-runtime's decoder.
func DecodeObject(raw runtime.RawExtension, v any) error {
	if len(raw.Raw) == 0 {
		return errors.New("there is no content to decode")
	}
	return Unmarshal(raw.Raw, v)
}

// Unjudged is the error of a request a handler could not judge, as opposed
// to one it refused: the review handler answers it with HTTP status Code
// and a Status body, so the API server applies the webhook's failure
// policy.
type Unjudged struct {
	// Code is the HTTP status: 400 for an object that does not decode, 503
	// for a handler not ready yet, 504 for a request not judged within
	// the handler's time budget, 500 for its own failures.
	Code int32
	Err  error
}

func (e *Unjudged) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Unjudged) Unwrap() error { return e.Err }

// Judger is an admission handler that reports the requests it could not
// judge as errors (an *Unjudged, or any error for a 500) rather than as
// responses. Handlers that only implement admission.Handler are served
// too; for them, CouldNotJudge reads their response's status code.
type Judger interface {
	Judge(ctx context.Context, req admission.Request) (admission.Response, error)
}

// Handler serves one admission.Handler over HTTP.
type Handler struct {
	handler admission.Handler
	log     logr.Logger
	// errLog paces the log of the requests the handler could not judge
	// for its own failure (a 5xx: the API server or etcd unreachable, a
	// reservation not written in time).
	errLog *ErrorLog
}

// ErrorLog paces the log lines of the requests handlers could not judge
// for their own failure: the first, then at most one an interval, each
// with the number not logged since the one before. One shared by every
// handler of a process keeps an outage that fails every request to one
// line an interval; the webhook's metrics count every request.
type ErrorLog struct {
	lim     *rate.Limiter
	dropped atomic.Int64
}

// NewErrorLog returns an ErrorLog that logs at most one line every
// interval.
func NewErrorLog(interval time.Duration) *ErrorLog {
	return &ErrorLog{lim: rate.NewLimiter(rate.Every(interval), 1)}
}

// allow reports whether a line may be logged now and, if so, how many
// were not since the last one. It never blocks.
func (l *ErrorLog) allow() (dropped int64, ok bool) {
	if !l.lim.Allow() {
		l.dropped.Add(1)
		return 0, false
	}
	return l.dropped.Swap(0), true
}

// ErrorLogInterval is the interval of the ErrorLog a Handler made without
// one logs at.
const ErrorLogInterval = time.Second

// NewHandler returns the HTTP handler serving h; log (with the webhook's
// name, say) is the logger handlers find in their context. errLog paces
// the log of the requests it could not judge; nil is one of its own
// (ErrorLogInterval).
func NewHandler(h admission.Handler, log logr.Logger, errLog *ErrorLog) *Handler {
	if errLog == nil {
		errLog = NewErrorLog(ErrorLogInterval)
	}
	return &Handler{handler: h, log: log, errLog: errLog}
}

// requestReview is what is decoded from the body: the review's type and
// its request, decoded straight into the admission.Request handed on.
type requestReview struct {
	APIVersion string                        `json:"apiVersion"`
	Kind       string                        `json:"kind"`
	Request    *admissionv1.AdmissionRequest `json:"request"`
}

// responseReview is what is written back.
type responseReview struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Response   *admissionv1.AdmissionResponse `json:"response"`
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps the buffers of unusually large reviews out of the
// pool, so that one large update does not pin megabytes per pooled buffer.
const maxPooledBuffer = 256 << 10

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		b.Reset()
		bufPool.Put(b)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in := bufPool.Get().(*bytes.Buffer)
	defer putBuffer(in)
	apiVersion := apiVersionV1
	resp := h.serve(r, in, &apiVersion)
	if CouldNotJudge(resp) {
		h.fail(w, resp.Result)
		return
	}
	h.write(w, apiVersion, resp)
}

// CouldNotJudge reports whether a handler's response says the request was
// not judged rather than refused: not allowed, with a 400, 413 or 5xx
// status (admission.Errored). Refusals carry 403 or 422.
func CouldNotJudge(resp admission.Response) bool {
	if resp.Allowed || resp.Result == nil {
		return false
	}
	c := resp.Result.Code
	return c == http.StatusBadRequest || c == http.StatusRequestEntityTooLarge || c >= 500
}

// fail answers a request that could not be judged with its HTTP status and
// a Status body, which the API server reports in its "failed calling
// webhook" error when the failure policy is Fail.
func (h *Handler) fail(w http.ResponseWriter, st *metav1.Status) {
	s := metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Message: st.Message, Reason: st.Reason, Code: st.Code,
	}
	b, err := jsonv1.Marshal(&s)
	if err != nil {
		http.Error(w, st.Message, int(st.Code))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	if _, err := w.Write(b); err != nil {
		h.log.V(1).Info("write error response", "error", err.Error())
	}
}

// serve reads, decodes and judges one review; it sets apiVersion to the
// review's own once known.
func (h *Handler) serve(r *http.Request, in *bytes.Buffer, apiVersion *string) admission.Response {
	if r.Body == nil || r.Body == http.NoBody {
		return h.bad(http.StatusBadRequest, errors.New("request body is empty"))
	}
	defer func() { _ = r.Body.Close() }()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return h.bad(http.StatusBadRequest, fmt.Errorf("content type %q, expected application/json", ct))
	}
	if r.ContentLength > MaxRequestBytes {
		return h.bad(http.StatusRequestEntityTooLarge, fmt.Errorf("request body of %d bytes is too large; the limit is %d bytes", r.ContentLength, MaxRequestBytes))
	}
	if r.ContentLength > 0 {
		// Trust the declared length only as far as a pooled buffer goes: a
		// client declaring megabytes and sending bytes must not get
		// megabytes reserved per connection.
		in.Grow(int(min(r.ContentLength, maxPooledBuffer)))
	}
	body := io.LimitReader(r.Body, MaxRequestBytes+1)
	n, err := in.ReadFrom(io.LimitReader(body, maxPooledBuffer))
	if err == nil && n == maxPooledBuffer {
		// A large review (an update of two big objects): the sender has
		// sent this much, so its declared length is now worth a buffer of
		// that size at once, instead of doubling a few times (which
		// allocated 8 MB for a 3 MB review).
		if rest := r.ContentLength - n; rest > 0 && r.ContentLength <= MaxRequestBytes {
			// ReadFrom wants MinRead bytes free before each read, the
			// one that sees the end included.
			in.Grow(int(rest) + bytes.MinRead)
		}
		var m int64
		m, err = in.ReadFrom(body)
		n += m
	}
	switch {
	case err != nil:
		return h.bad(http.StatusBadRequest, fmt.Errorf("read request body: %w", err))
	case n > MaxRequestBytes:
		return h.bad(http.StatusRequestEntityTooLarge, fmt.Errorf("request body is too large; the limit is %d bytes", MaxRequestBytes))
	}
	var req admission.Request
	rv := requestReview{Request: &req.AdmissionRequest}
	if err := Unmarshal(in.Bytes(), &rv); err != nil {
		return h.bad(http.StatusBadRequest, fmt.Errorf("decode AdmissionReview: %w", err))
	}
	switch {
	case rv.Kind != kindReview || (rv.APIVersion != apiVersionV1 && rv.APIVersion != apiVersionV1beta1):
		return h.bad(http.StatusBadRequest, fmt.Errorf("apiVersion %q kind %q: expected an AdmissionReview of %s or %s",
			rv.APIVersion, rv.Kind, apiVersionV1, apiVersionV1beta1))
	case rv.Request == nil:
		return h.bad(http.StatusBadRequest, errors.New("AdmissionReview has no request"))
	case req.UID == "":
		// Also an absent request: the decoder fills the request in place.
		return h.bad(http.StatusBadRequest, errors.New("AdmissionReview has no request uid"))
	}
	*apiVersion = rv.APIVersion
	return h.handle(r.Context(), req)
}

// handle runs the handler, completing its response (UID, status code,
// patch) and turning a panic into an error response.
func (h *Handler) handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error(fmt.Errorf("panic: %v", p), "handler panicked", "uid", req.UID, "kind", req.Kind.Kind,
				"namespace", req.Namespace, "name", req.Name, "operation", req.Operation)
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("internal error judging %s %s: %v", req.Kind.Kind, req.Name, p))
			resp.UID = req.UID
		}
	}()
	ctx = logf.IntoContext(ctx, h.log)
	if j, ok := h.handler.(Judger); ok {
		var err error
		if resp, err = j.Judge(ctx, req); err != nil {
			code := int32(http.StatusInternalServerError)
			var u *Unjudged
			if errors.As(err, &u) {
				code = u.Code
			}
			if code >= http.StatusInternalServerError {
				if dropped, ok := h.errLog.allow(); ok {
					h.log.Error(err, "request not judged; answered with an error, to which the API server applies the webhook's failure policy",
						"uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "operation", req.Operation,
						"code", code, "notLoggedSinceLast", dropped)
				}
			}
			resp = admission.Errored(code, err)
			resp.UID = req.UID
			return resp
		}
	} else {
		resp = h.handler.Handle(ctx, req)
	}
	if err := resp.Complete(req); err != nil {
		h.log.Error(err, "encode patch", "uid", req.UID)
		resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode patch: %w", err))
		resp.UID = req.UID
	}
	return resp
}

// bad answers a request that could not be read as a review.
func (h *Handler) bad(code int32, err error) admission.Response {
	h.log.Error(err, "bad admission request")
	return admission.Errored(code, err)
}

// write encodes the response review. The response is small (a status, a
// few warnings, a patch), so the standard encoder's legacy omitempty
// semantics, which Kubernetes' types are written for, are kept.
func (h *Handler) write(w http.ResponseWriter, apiVersion string, resp admission.Response) {
	out := bufPool.Get().(*bytes.Buffer)
	defer putBuffer(out)
	if resp.Result == nil {
		// Errors built before a request was decoded have no Complete.
		resp.Result = &metav1.Status{Code: http.StatusOK}
	}
	// A large patch (a Subnet's 100k excludeIps) is base64-encoded
	// straight into the response writer: the encoder would grow its buffer
	// to the encoded size by doubling, then copy it.
	patch := resp.Patch
	if len(patch) > largePatch {
		resp.Patch = nil
	}
	rv := responseReview{APIVersion: apiVersion, Kind: kindReview, Response: &resp.AdmissionResponse}
	if err := jsonv1.NewEncoder(out).Encode(&rv); err != nil {
		h.log.Error(err, "encode admission response", "uid", resp.UID)
		http.Error(w, "encode admission response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	var err error
	if len(patch) > largePatch {
		err = writeWithPatch(w, out.Bytes(), patch)
	} else {
		_, err = w.Write(out.Bytes())
	}
	if err != nil {
		h.log.V(1).Info("write admission response", "uid", resp.UID, "error", err.Error())
	}
}

// largePatch is the patch size above which write streams the patch.
const largePatch = 64 << 10

// responseObject opens the response member of an encoded review.
var responseObject = []byte(`"response":{`)

// writeWithPatch writes the encoded review enc (whose response has no
// patch) with "patch":"<base64 of patch>" as the first member of its
// response: the bytes encoding/json would write, in another member order.
func writeWithPatch(w io.Writer, enc, patch []byte) error {
	i := bytes.Index(enc, responseObject)
	if i < 0 {
		return errors.New("encoded review has no response")
	}
	i += len(responseObject)
	if _, err := w.Write(enc[:i]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, `"patch":"`); err != nil {
		return err
	}
	b64 := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := b64.Write(patch); err != nil {
		return err
	}
	if err := b64.Close(); err != nil {
		return err
	}
	if _, err := io.WriteString(w, `",`); err != nil {
		return err
	}
	_, err := w.Write(enc[i:])
	return err
}
