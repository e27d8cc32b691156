// noop-webhook: the least a mutating webhook can do, for the e2e tier's admission-latency
// measurement. It reads the AdmissionReview and answers `allowed` with the request's uid,
// and is deployed as lameduck is (in the cluster, TLS, behind a Service), so that what
// lameduck adds to a pod creation shows against what any webhook costs.
//
//	/mutate    no patch: the least any webhook costs
//	/annotate  a one-operation patch (an annotation): the least any webhook that
//	           mutates costs, since the API server then re-encodes, patches and decodes
//	           the pod whatever the patch holds
//
//	-listen :8443          the webhook (HTTPS, h2 and http/1.1, as lameduck offers)
//	-metrics-listen :9090  plain HTTP: /healthz and /metrics (handshakes, reviews)
//
// /metrics counts TLS handshakes by negotiated protocol, so the measurement can tell
// whether the API server reuses its connections to this webhook as it does to lameduck.
package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"
)

type review struct {
	Request struct {
		UID    string `json:"uid"`
		Object struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		} `json:"object"`
	} `json:"request"`
}

type counters struct {
	handshakes atomic.Int64 // completed TLS handshakes
	h2         atomic.Int64 // of which negotiated h2
	reviews    atomic.Int64
	bad        atomic.Int64 // bodies that were not a review
}

func main() {
	listen := flag.String("listen", ":8443", "HTTPS address of the webhook")
	metricsListen := flag.String("metrics-listen", ":9090", "plain HTTP address of /healthz and /metrics")
	certFile := flag.String("tls-cert", "/tls/tls.crt", "serving certificate (PEM)")
	keyFile := flag.String("tls-key", "/tls/tls.key", "its key (PEM)")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("noop-webhook: %v", err)
	}
	var c counters

	answer := func(patch bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var in review
			if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&in); err != nil || in.Request.UID == "" {
				c.bad.Add(1)
				http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
				return
			}
			c.reviews.Add(1)
			w.Header().Set("Content-Type", "application/json")
			uid, _ := json.Marshal(in.Request.UID)
			extra := ""
			if patch {
				op := `[{"op":"add","path":"/metadata/annotations","value":{"e2e.lameduck.dev/noop":"seen"}}]`
				if in.Request.Object.Metadata.Annotations != nil {
					op = `[{"op":"add","path":"/metadata/annotations/e2e.lameduck.dev~1noop","value":"seen"}]`
				}
				extra = `,"patchType":"JSONPatch","patch":"` + base64.StdEncoding.EncodeToString([]byte(op)) + `"`
			}
			fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%s,"allowed":true%s}}`, uid, extra)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate", answer(false))
	mux.HandleFunc("/annotate", answer(true))
	server := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS12,
		},
	}
	server.TLSConfig.VerifyConnection = func(state tls.ConnectionState) error {
		// Called once per completed handshake, server side, before any request.
		c.handshakes.Add(1)
		if state.NegotiatedProtocol == "h2" {
			c.h2.Add(1)
		}
		return nil
	}

	metrics := http.NewServeMux()
	metrics.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	metrics.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "noop_webhook_tls_handshakes_total{protocol=\"h2\"} %d\n", c.h2.Load())
		fmt.Fprintf(w, "noop_webhook_tls_handshakes_total{protocol=\"http/1.1\"} %d\n", c.handshakes.Load()-c.h2.Load())
		fmt.Fprintf(w, "noop_webhook_reviews_total %d\n", c.reviews.Load())
		fmt.Fprintf(w, "noop_webhook_bad_requests_total %d\n", c.bad.Load())
	})
	go func() {
		log.Fatal((&http.Server{Addr: *metricsListen, Handler: metrics, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe())
	}()
	log.Printf("noop-webhook: serving on %s, metrics on %s", *listen, *metricsListen)
	log.Fatal(server.ListenAndServeTLS("", ""))
}
