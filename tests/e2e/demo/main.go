// lameduck-demo: the app the e2e rollout measures. It behaves like most web frameworks:
// on SIGTERM it stops accepting connections at once and exits when the requests in
// flight are done. That is exactly the behaviour that drops requests during a rolling
// update when nothing delays the SIGTERM: endpoints and iptables rules still point at a
// listener that is already closed.
//
//	GET /           200 "ok <hostname>"
//	GET /healthz    200 (readiness)
//	/work?ms=N      200 after N milliseconds (a slow request; any method: a POST is what
//	                clients do not retry when its connection is cut)
//
// Flags: --listen (default :8080), --on-sigterm=drain|exit (exit: stop at once, even with
// requests in flight), --report=URL (POST URL?pod=HOSTNAME when SIGTERM arrives: the e2e
// load tool times how long each pod lingered after its deletion).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve HTTP on")
	onSigterm := flag.String("on-sigterm", "drain", "drain: stop accepting, exit after in-flight requests; exit: exit at once")
	report := flag.String("report", "", "URL to POST ?pod=HOSTNAME to when SIGTERM arrives")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if *onSigterm != "drain" && *onSigterm != "exit" {
		log.Fatalf("--on-sigterm=%q: want drain or exit", *onSigterm)
	}
	host, _ := os.Hostname()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s\n", host)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 600_000 {
			http.Error(w, "ms: want 0..600000", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprintf(w, "worked %dms on %s\n", ms, host)
		case <-r.Context().Done():
		}
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		sig := <-term
		log.Printf("%s: on-sigterm=%s", sig, *onSigterm)
		// Beside the shutdown, never in its way: the report is best effort, and the
		// process waits for it at most a second after the last request is done.
		go func() {
			defer close(reported)
			if *report == "" {
				return
			}
			client := &http.Client{Timeout: time.Second}
			if res, err := client.Post(*report+"?pod="+host, "text/plain", nil); err == nil {
				res.Body.Close()
			}
		}()
		if *onSigterm == "exit" {
			os.Exit(0)
		}
		// Shutdown closes the listener now and waits for active requests.
		if err := srv.Shutdown(context.Background()); err != nil {
			log.Printf("shutdown: %v", err)
		}
		close(done)
	}()
	log.Printf("serving on %s", *listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-done
	log.Print("in-flight requests done, exiting")
	select {
	case <-reported:
	case <-time.After(time.Second):
	}
}
