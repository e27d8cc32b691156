// rollout-load: constant HTTP load through rolling updates, counting what clients see.
//
// One experiment (a JSON file, -config) names a Deployment that exists in several
// namespaces (the variants: without lameduck, with it, a negative control, ...) and the
// traffic arms that load it at once: a new connection per request or a keep-alive pool
// through the Service's NodePort, keep-alive or HTTP/2 (h2c) through the ingress. Rounds
// are interleaved: round 1 of every variant, then round 2, ... so that a drift of the
// machine's load hits every variant alike.
//
// In a round every arm's load runs while `kubectl rollout restart` replaces the pods; the
// round ends when the rollout is complete AND every old pod is gone (a pod in its preStop
// still receives traffic), plus -settle. A watch on the pods timestamps each deletion and
// disappearance; the demo app reports its SIGTERM to -beacon (POST /sigterm?pod=NAME), so
// the time each old pod lingered before SIGTERM is known too. Every failure is placed
// against those times: a request that failed and ended before the first deletion, or
// started more than `tail` after the last old pod was gone (the data plane's lag: the
// ingress may route to a pod a moment after it is gone), is steady-state noise, and the
// round says how many there were.
//
// A round that cannot complete (rollout timeout, pods not replaced, kubectl failing) is an
// error: the tool exits non-zero and the rounds it recorded are fewer than asked.
//
// One JSON object per round, variant and arm is appended to -json; a line per round to stdout.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type experiment struct {
	Scenario   string    `json:"scenario"`
	Deployment string    `json:"deployment"`
	Selector   string    `json:"selector"`
	Rounds     int       `json:"rounds"`
	Settle     duration  `json:"settle"`
	Tail       duration  `json:"tail"`
	Timeout    duration  `json:"timeout"`
	IngressURL string    `json:"ingress_url"`
	Beacon     string    `json:"beacon"`
	Commit     string    `json:"commit"`
	Variants   []variant `json:"variants"`
	Arms       []arm     `json:"arms"`
}

type variant struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type arm struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Via     string   `json:"via"`  // nodeport | ingress
	Mode    string   `json:"mode"` // new (a connection per request) | pool (keep-alive) | h2c
	Path    string   `json:"path"`
	Method  string   `json:"method"` // GET by default; POST is never retried by Go's client
	Rate    int      `json:"rate"`
	Conns   int      `json:"conns"`
	Timeout duration `json:"timeout"`
}

// duration reads "2s" from JSON.
type duration struct{ time.Duration }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	d.Duration = v
	return err
}

// record is one JSON line: one arm of one variant in one round.
type record struct {
	Scenario  string         `json:"scenario"`
	Arm       string         `json:"arm"`
	ArmLabel  string         `json:"arm_label"`
	Variant   string         `json:"variant"`
	Round     int            `json:"round"`
	Commit    string         `json:"commit"`
	Rate      int            `json:"rate"`
	Requests  int            `json:"requests"`
	Failed    int            `json:"failed"`
	Transport int            `json:"transport_errors"`
	Codes     map[string]int `json:"non_2xx_codes"`
	Errors    map[string]int `json:"errors"`
	// Against the pods' lifecycle, seconds from the round's first deletion.
	FailedBefore   int      `json:"failed_before_first_deletion"`
	FailedAfter    int      `json:"failed_after_last_gone"`
	FirstFailure   *float64 `json:"first_failure_s"`
	LastFailure    *float64 `json:"last_failure_s"`
	PodsTerminated int      `json:"pods_terminated"`
	FailedPerPod   float64  `json:"failed_per_terminated_pod"`
	// The round (same for every arm of it).
	RolloutSeconds float64   `json:"rollout_seconds"`
	Linger         []float64 `json:"linger_seconds"`
	NewPods        int       `json:"new_pods"`
	NewPodsPlanned int       `json:"new_pods_planned"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rollout-load:", err)
		os.Exit(1)
	}
}

func run() error {
	config := flag.String("config", "", "experiment (JSON)")
	kubectl := flag.String("kubectl", "kubectl", "kubectl binary (KUBECONFIG from the environment)")
	jsonOut := flag.String("json", "", "append one JSON object per round, variant and arm to this file")
	flag.Parse()
	raw, err := os.ReadFile(*config)
	if err != nil {
		return err
	}
	var x experiment
	if err := json.Unmarshal(raw, &x); err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	if x.Deployment == "" || x.Selector == "" || len(x.Variants) == 0 || len(x.Arms) == 0 || x.Rounds < 1 {
		return errors.New("config: deployment, selector, variants, arms and rounds are required")
	}
	if x.Settle.Duration == 0 {
		x.Settle.Duration = 2 * time.Second
	}
	if x.Tail.Duration == 0 {
		x.Tail.Duration = 3 * time.Second
	}
	if x.Timeout.Duration == 0 {
		x.Timeout.Duration = 5 * time.Minute
	}
	beacon := newBeacon()
	if x.Beacon != "" {
		if err := beacon.listen(x.Beacon); err != nil {
			return err
		}
	}
	targets := map[string][]target{}
	for _, v := range x.Variants {
		k := kube{bin: *kubectl, ns: v.Namespace}
		ts, err := resolveTargets(k, x, v)
		if err != nil {
			return err
		}
		targets[v.Name] = ts
	}
	for round := 1; round <= x.Rounds; round++ {
		for _, v := range x.Variants {
			k := kube{bin: *kubectl, ns: v.Namespace}
			records, err := runRound(k, x, v, targets[v.Name], beacon, round)
			if err != nil {
				return fmt.Errorf("%s %s round %d: %w", x.Scenario, v.Name, round, err)
			}
			for _, r := range records {
				report(r)
				if *jsonOut != "" {
					if err := appendJSON(*jsonOut, r); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

type target struct {
	arm arm
	vt  vegeta.Target
}

// resolveTargets finds each arm's URL for the variant's namespace and waits until it
// answers 200: kube-proxy and the ingress each need a moment for a new Service.
func resolveTargets(k kube, x experiment, v variant) ([]target, error) {
	var ts []target
	for _, a := range x.Arms {
		t := vegeta.Target{Method: http.MethodGet, Header: http.Header{}}
		if a.Method != "" && a.Method != http.MethodGet {
			// A body makes the request what it is for real clients: not replayable, so a
			// connection cut mid-request shows as a failure instead of a silent retry.
			t.Method, t.Body = a.Method, []byte("order=1")
		}
		switch a.Via {
		case "nodeport":
			port, err := k.out("get", "service", x.Deployment, "-o", "jsonpath={.spec.ports[0].nodePort}")
			if err != nil {
				return nil, err
			}
			t.URL = "http://127.0.0.1:" + port + a.Path
		case "ingress":
			if x.IngressURL == "" {
				return nil, fmt.Errorf("arm %s: via ingress but no ingress_url", a.Name)
			}
			t.URL = strings.TrimSuffix(x.IngressURL, "/") + a.Path
			t.Header.Set("Host", ingressHost(x.Deployment, v.Namespace))
		default:
			return nil, fmt.Errorf("arm %s: via %q: want nodeport or ingress", a.Name, a.Via)
		}
		if err := waitAnswers(t, 90*time.Second); err != nil {
			return nil, fmt.Errorf("arm %s in %s: %w", a.Name, v.Namespace, err)
		}
		ts = append(ts, target{arm: a, vt: t})
	}
	return ts, nil
}

// ingressHost is the host rule the scenarios give each namespace's Ingress.
func ingressHost(deployment, namespace string) string {
	return deployment + "." + namespace + ".test"
}

func waitAnswers(t vegeta.Target, within time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	url := t.URL
	// A long request's path would make every probe slow: ask for the root.
	if i := strings.Index(url[len("http://"):], "/"); i >= 0 {
		url = url[:len("http://")+i] + "/"
	}
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = t.Header.Get("Host")
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (Host %q) does not answer 200 within %s: %v", url, req.Host, within, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type failure struct {
	at, end time.Time
	kind    string
}

type tally struct {
	mu       sync.Mutex
	requests int
	failures []failure
	codes    map[string]int
	errors   map[string]int
}

func (t *tally) add(res *vegeta.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	switch {
	case res.Error != "" && res.Code == 0:
		kind := shortError(res.Error)
		t.errors[kind]++
		t.failures = append(t.failures, failure{res.Timestamp, res.Timestamp.Add(res.Latency), kind})
	case res.Code < 200 || res.Code > 299:
		code := strconv.Itoa(int(res.Code))
		t.codes[code]++
		t.failures = append(t.failures, failure{res.Timestamp, res.Timestamp.Add(res.Latency), code})
	}
}

// shortError keeps the part of a transport error that says what happened, not the
// addresses and ports that make every line unique.
func shortError(e string) string {
	for _, known := range []string{"connection refused", "connection reset by peer", "EOF", "timeout", "Client.Timeout", "no route to host", "broken pipe"} {
		if strings.Contains(e, known) {
			return known
		}
	}
	if len(e) > 80 {
		return e[:80]
	}
	return e
}

func attacker(a arm) *vegeta.Attacker {
	timeout := a.Timeout.Duration
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	opts := []func(*vegeta.Attacker){vegeta.Timeout(timeout)}
	switch a.Mode {
	case "pool":
		conns := a.Conns
		if conns == 0 {
			conns = 16
		}
		opts = append(opts, vegeta.KeepAlive(true), vegeta.Connections(conns), vegeta.MaxConnections(conns))
	case "h2c":
		opts = append(opts, vegeta.KeepAlive(true), vegeta.H2C(true))
	default:
		opts = append(opts, vegeta.KeepAlive(false))
	}
	return vegeta.NewAttacker(opts...)
}

func runRound(k kube, x experiment, v variant, targets []target, b *beacon, round int) ([]record, error) {
	want, err := k.replicas(x.Deployment)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), x.Timeout.Duration)
	defer cancel()
	w, err := k.watchPods(ctx, x.Selector)
	if err != nil {
		return nil, err
	}
	old, err := w.current(ctx, want)
	if err != nil {
		return nil, err
	}

	tallies := make([]*tally, len(targets))
	attackers := make([]*vegeta.Attacker, len(targets))
	var done sync.WaitGroup
	for i, t := range targets {
		tallies[i] = &tally{codes: map[string]int{}, errors: map[string]int{}}
		attackers[i] = attacker(t.arm)
		results := attackers[i].Attack(vegeta.NewStaticTargeter(t.vt), vegeta.Rate{Freq: t.arm.Rate, Per: time.Second}, 0, t.arm.Name)
		done.Add(1)
		go func(tl *tally) {
			defer done.Done()
			for res := range results {
				tl.add(res)
			}
		}(tallies[i])
	}
	stop := func() {
		for _, a := range attackers {
			a.Stop()
		}
		done.Wait()
	}

	// Load before the restart: the round also shows that the steady state is clean.
	time.Sleep(x.Settle.Duration)
	started := time.Now()
	err = func() error {
		if _, err := k.out("rollout", "restart", "deployment/"+x.Deployment); err != nil {
			return err
		}
		if _, err := k.outCtx(ctx, "rollout", "status", "deployment/"+x.Deployment, "--timeout="+x.Timeout.String()); err != nil {
			return err
		}
		return w.replaced(ctx, old, want)
	}()
	seconds := time.Since(started).Seconds()
	if err == nil {
		// Past the data plane's tail, then a clean window of its own.
		time.Sleep(x.Tail.Duration + x.Settle.Duration)
	}
	stop()
	if err != nil {
		return nil, err
	}
	pods := w.snapshot()
	var firstDeletion, lastGone time.Time
	var linger []float64
	for uid := range old {
		p := pods[uid]
		if firstDeletion.IsZero() || p.deleted.Before(firstDeletion) {
			firstDeletion = p.deleted
		}
		if p.gone.After(lastGone) {
			lastGone = p.gone
		}
		if at, ok := b.sigterm(p.name); ok && !p.deleted.IsZero() {
			linger = append(linger, round1(at.Sub(p.deleted).Seconds()))
		}
	}
	sort.Float64s(linger)
	newPods, planned := 0, 0
	for uid, p := range pods {
		if _, isOld := old[uid]; isOld || !p.gone.IsZero() {
			continue
		}
		newPods++
		if p.planned {
			planned++
		}
	}
	var records []record
	for i, t := range targets {
		tl := tallies[i]
		r := record{
			Scenario: x.Scenario, Arm: t.arm.Name, ArmLabel: t.arm.Label, Variant: v.Name, Round: round,
			Commit: x.Commit, Rate: t.arm.Rate, Requests: tl.requests, Failed: len(tl.failures),
			Codes: tl.codes, Errors: tl.errors, PodsTerminated: len(old),
			RolloutSeconds: round1(seconds), Linger: linger, NewPods: newPods, NewPodsPlanned: planned,
		}
		for _, n := range tl.errors {
			r.Transport += n
		}
		for _, f := range tl.failures {
			s := round1(f.at.Sub(firstDeletion).Seconds())
			switch {
			case f.end.Before(firstDeletion):
				r.FailedBefore++
			case f.at.After(lastGone.Add(x.Tail.Duration)):
				r.FailedAfter++
			}
			if r.FirstFailure == nil || s < *r.FirstFailure {
				r.FirstFailure = &s
			}
			if r.LastFailure == nil || s > *r.LastFailure {
				r.LastFailure = &s
			}
		}
		if len(old) > 0 {
			r.FailedPerPod = round1(float64(r.Failed) / float64(len(old)))
		}
		records = append(records, r)
	}
	return records, nil
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

func report(r record) {
	details := []string{}
	for _, m := range []map[string]int{r.Errors, r.Codes} {
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			details = append(details, fmt.Sprintf("%s×%d", key, m[key]))
		}
	}
	fmt.Printf("%s %s %s round %d: %d requests, %d failed [%s] (%d before the first deletion, %d after the last pod gone), rollout %.1fs, linger %v\n",
		r.Scenario, r.Arm, r.Variant, r.Round, r.Requests, r.Failed, strings.Join(details, ", "),
		r.FailedBefore, r.FailedAfter, r.RolloutSeconds, r.Linger)
}

func appendJSON(path string, r record) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	return json.NewEncoder(f).Encode(r)
}

// --- SIGTERM reports from the demo app --------------------------------------------------

type beacon struct {
	mu sync.Mutex
	at map[string]time.Time
}

func newBeacon() *beacon { return &beacon{at: map[string]time.Time{}} }

func (b *beacon) listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("beacon: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sigterm", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		if _, seen := b.at[r.URL.Query().Get("pod")]; !seen {
			b.at[r.URL.Query().Get("pod")] = time.Now()
		}
		b.mu.Unlock()
	})
	go func() { _ = http.Serve(l, mux) }()
	return nil
}

func (b *beacon) sigterm(pod string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.at[pod]
	return at, ok
}

// --- kubectl --------------------------------------------------------------------------

type kube struct{ bin, ns string }

func (k kube) out(args ...string) (string, error) {
	return k.outCtx(context.Background(), args...)
}

func (k kube) outCtx(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"-n", k.ns}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func (k kube) replicas(deployment string) (int, error) {
	s, err := k.out("get", "deployment", deployment, "-o", "jsonpath={.spec.replicas}")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

type pod struct {
	name    string
	deleted time.Time // first seen with a deletionTimestamp
	gone    time.Time // DELETED event
	planned bool      // carries lameduck's status record
}

// podWatch follows `kubectl get pods -w`: each event is timestamped when it arrives, a
// far finer clock than the second-resolution timestamps in the objects.
type podWatch struct {
	mu   sync.Mutex
	pods map[string]*pod
	err  error
}

func (k kube) watchPods(ctx context.Context, selector string) (*podWatch, error) {
	cmd := exec.CommandContext(ctx, k.bin, "-n", k.ns, "get", "pods", "-l", selector, "-w", "--output-watch-events", "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &podWatch{pods: map[string]*pod{}}
	go func() {
		dec := json.NewDecoder(bufio.NewReader(stdout))
		for {
			var ev struct {
				Type   string `json:"type"`
				Object struct {
					Metadata struct {
						Name              string            `json:"name"`
						UID               string            `json:"uid"`
						DeletionTimestamp *string           `json:"deletionTimestamp"`
						Annotations       map[string]string `json:"annotations"`
					} `json:"metadata"`
				} `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				_ = cmd.Wait()
				return
			}
			now := time.Now()
			m := ev.Object.Metadata
			w.mu.Lock()
			p := w.pods[m.UID]
			if p == nil {
				p = &pod{name: m.Name}
				w.pods[m.UID] = p
			}
			_, p.planned = m.Annotations["lameduck.dev/status"]
			if m.DeletionTimestamp != nil && p.deleted.IsZero() {
				p.deleted = now
			}
			if ev.Type == "DELETED" {
				if p.deleted.IsZero() {
					p.deleted = now
				}
				p.gone = now
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *podWatch) snapshot() map[string]pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := make(map[string]pod, len(w.pods))
	for uid, p := range w.pods {
		s[uid] = *p
	}
	return s
}

// current waits until the watch has listed exactly `want` pods, none terminating: the
// round starts from a settled Deployment.
func (w *podWatch) current(ctx context.Context, want int) (map[string]bool, error) {
	for {
		live := map[string]bool{}
		for uid, p := range w.snapshot() {
			if p.deleted.IsZero() && p.gone.IsZero() {
				live[uid] = true
			}
		}
		if len(live) == want && w.noneTerminating() {
			return live, nil
		}
		if err := w.wait(ctx); err != nil {
			return nil, fmt.Errorf("waiting for %d settled pods (have %d): %w", want, len(live), err)
		}
	}
}

func (w *podWatch) noneTerminating() bool {
	for _, p := range w.snapshot() {
		if !p.deleted.IsZero() && p.gone.IsZero() {
			return false
		}
	}
	return true
}

// replaced waits until every old pod is gone and `want` new pods run: for clients the
// rollout is over only when the last old pod has stopped.
func (w *podWatch) replaced(ctx context.Context, old map[string]bool, want int) error {
	for {
		pods := w.snapshot()
		oldLeft, fresh := 0, 0
		for uid, p := range pods {
			switch {
			case old[uid] && p.gone.IsZero():
				oldLeft++
			case !old[uid] && p.deleted.IsZero():
				fresh++
			}
		}
		if oldLeft == 0 && fresh == want {
			return nil
		}
		if err := w.wait(ctx); err != nil {
			return fmt.Errorf("pods not replaced (%d old left, %d new of %d): %w", oldLeft, fresh, want, err)
		}
	}
}

func (w *podWatch) wait(ctx context.Context) error {
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("pod watch ended: %w", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}
