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
// Flags: --listen (default :8080), --on-sigterm=drain|polite|exit (exit: stop at once, even
// with requests in flight; polite: see below), --report=URL (POST URL?pod=HOSTNAME when SIGTERM arrives: the e2e
// load tool times how long each pod lingered after its deletion).
//
// drain is Go's Shutdown: it also closes every idle kept-alive connection at SIGTERM, so a
// client that sends a request onto one at that instant reads EOF (and does not retry a
// POST). polite is what an app does to close that race on its side: it stops accepting,
// keeps its open connections, answers every request with `Connection: close`, and closes
// what is left idle only once no request is in flight.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve HTTP on")
	onSigterm := flag.String("on-sigterm", "drain", "drain: stop accepting, exit after in-flight requests; polite: drain, closing each connection after its next answer; exit: exit at once")
	report := flag.String("report", "", "URL to POST ?pod=HOSTNAME to when SIGTERM arrives")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if *onSigterm != "drain" && *onSigterm != "polite" && *onSigterm != "exit" {
		log.Fatalf("--on-sigterm=%q: want drain, polite or exit", *onSigterm)
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
	var draining atomic.Bool
	var inFlight atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		mux.ServeHTTP(&closeWhenDraining{ResponseWriter: w, draining: &draining}, r)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}

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
		if *onSigterm == "polite" {
			draining.Store(true)
			ln.Close()
			for inFlight.Load() > 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		// Shutdown closes the listener now and waits for active requests.
		if err := srv.Shutdown(context.Background()); err != nil {
			log.Printf("shutdown: %v", err)
		}
		close(done)
	}()
	log.Printf("serving on %s", *listen)
	if err := srv.Serve(ln); err != http.ErrServerClosed && !draining.Load() {
		log.Fatal(err)
	}
	<-done
	log.Print("in-flight requests done, exiting")
	select {
	case <-reported:
	case <-time.After(time.Second):
	}
}

// closeWhenDraining decides at the answer, not at the request: a request already in flight
// at SIGTERM also closes its connection.
type closeWhenDraining struct {
	http.ResponseWriter
	draining *atomic.Bool
	answered bool
}

func (c *closeWhenDraining) WriteHeader(code int) {
	if !c.answered {
		c.answered = true
		if c.draining.Load() {
			c.Header().Set("Connection", "close")
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *closeWhenDraining) Write(b []byte) (int, error) {
	if !c.answered {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}
