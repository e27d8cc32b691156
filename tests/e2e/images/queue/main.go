// queue: the shutdown protocol of Knative's queue-proxy, for the e2e cluster. The real
// one (knative.dev/serving/cmd/queue) cannot be built here: it imports knative.dev/pkg
// and knative.dev/networking, which the Go module proxy this project builds from does
// not serve (`go list -m -versions knative.dev/pkg` answers 403). This program behaves
// as queue-proxy v0.51's pkg/queue/sharedmain does at the points lameduck touches, read
// from its source (handlers.go, main.go), not copied:
//
//   - :8012 proxies every request to the user container on 127.0.0.1:$USER_PORT;
//     kubelet probes (header K-Network-Probe: queue) answer 200 while the user
//     container accepts TCP connections and 503 once draining has begun;
//   - :8022 GET /wait-for-drain (the user container's preStop) starts draining and
//     returns when the drain is done; but if this process has not received SIGTERM
//     within one second, it takes the call for a liveness restart of the user container
//     and cancels the drain, so the hook returns at once;
//   - on SIGTERM it drains: it keeps proxying until no request has arrived for the
//     quiet period (Knative: 30 s; -quiet here), then stops.
//
// So the choreography works only if queue-proxy gets SIGTERM when the pod's deletion
// starts: a preStop delay on queue-proxy (what lameduck did before it knew the pattern)
// makes the user container's hook return after a second, and the app stops while
// queue-proxy still routes to it.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// drainer tracks the last request and whether a drain is on.
type drainer struct {
	mu       sync.Mutex
	last     time.Time
	draining bool
	reset    chan struct{} // closed by Reset: a waiting Drain returns at once
}

func newDrainer() *drainer { return &drainer{last: time.Now(), reset: make(chan struct{})} }

func (d *drainer) touch() {
	d.mu.Lock()
	d.last = time.Now()
	d.mu.Unlock()
}

func (d *drainer) isDraining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining
}

// Drain blocks until no request has arrived for `quiet`, or until Reset.
func (d *drainer) Drain(quiet time.Duration) {
	d.mu.Lock()
	d.draining = true
	reset := d.reset
	d.mu.Unlock()
	for {
		d.mu.Lock()
		wait := quiet - time.Since(d.last)
		d.mu.Unlock()
		if wait <= 0 {
			return
		}
		select {
		case <-reset:
			return
		case <-time.After(wait):
		}
	}
}

func (d *drainer) Reset() {
	d.mu.Lock()
	close(d.reset)
	d.reset = make(chan struct{})
	d.draining = false
	d.mu.Unlock()
}

func main() {
	quiet := flag.Duration("quiet", 30*time.Second, "drain: stop after no request for this long")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	userPort := os.Getenv("USER_PORT")
	if userPort == "" || os.Getenv("QUEUE_SERVING_PORT") == "" {
		log.Fatal("USER_PORT and QUEUE_SERVING_PORT are required (as Knative sets them)")
	}
	user := "127.0.0.1:" + userPort
	target, _ := url.Parse("http://" + user)
	proxy := httputil.NewSingleHostReverseProxy(target)
	d := newDrainer()
	term, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	main := http.NewServeMux()
	main.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("K-Network-Probe") == "queue" {
			c, err := net.DialTimeout("tcp", user, time.Second)
			if err != nil || d.isDraining() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			c.Close()
			w.WriteHeader(http.StatusOK)
			return
		}
		d.touch()
		proxy.ServeHTTP(w, r)
	})
	admin := http.NewServeMux()
	admin.HandleFunc("/wait-for-drain", func(w http.ResponseWriter, _ *http.Request) {
		log.Print("drain requested by the user container's preStop")
		go func() {
			select {
			case <-term.Done():
			case <-time.After(time.Second):
				log.Print("no SIGTERM within 1s: a liveness restart, not a shutdown; drain cancelled")
				d.Reset()
			}
		}()
		d.Drain(*quiet)
		w.WriteHeader(http.StatusOK)
	})
	servers := []*http.Server{
		{Addr: ":" + os.Getenv("QUEUE_SERVING_PORT"), Handler: main, ReadHeaderTimeout: 10 * time.Second},
		{Addr: ":8022", Handler: admin, ReadHeaderTimeout: 10 * time.Second},
	}
	for _, s := range servers {
		go func() {
			if err := s.ListenAndServe(); err != http.ErrServerClosed {
				log.Fatal(err)
			}
		}()
	}
	log.Printf("queue: :%s -> %s, admin :8022", os.Getenv("QUEUE_SERVING_PORT"), user)
	<-term.Done()
	log.Printf("SIGTERM: draining until %s without a request", *quiet)
	d.Drain(*quiet)
	for _, s := range servers {
		_ = s.Shutdown(context.Background())
	}
	log.Print("drained, exiting")
}
