// Command e2e-createload measures what mutating webhooks add to pod creation through a
// real API server. It sends server-side dry-run creates of one pod (they pass the whole
// admission chain, webhooks included, and nothing is stored or scheduled) at a steady
// rate into each target namespace in turn: one lameduck plans, one its namespaceSelector
// excludes, one a no-op webhook serves. Per rate and target it writes one JSON line:
// the client's latency (p50/p90/p99/max, measured from when each create was due, so a
// backlog shows as latency instead of hiding), failed creates, how many answers came
// back mutated, and, from the scrapes of /metrics before and after, the API server's
// count and mean duration of calls to the target's webhook, the calls that failed, and
// the webhook's TLS handshakes (connection reuse) and own time.
//
//	e2e-createload -config CONFIG.json -json OUT.jsonl
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type target struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Webhook is the webhook's name in its MutatingWebhookConfiguration: the `name` label
	// of the API server's apiserver_admission_webhook_* series. Empty: no webhook.
	Webhook string `json:"webhook"`
	// MetricsPaths: the webhook's pods' /metrics through the API server's pod proxy
	// (/api/v1/namespaces/NS/pods/POD:PORT/proxy/metrics), every replica, scraped before
	// and after.
	MetricsPaths []string `json:"metrics_paths"`
	// HandshakeMetric counts the webhook's completed TLS handshakes.
	HandshakeMetric string `json:"handshake_metric"`
	// DurationMetric is the webhook's own histogram of review time (seconds), if it has one.
	DurationMetric string `json:"duration_metric"`
	// PodAnnotations go on every pod sent to this target.
	PodAnnotations map[string]string `json:"pod_annotations"`
}

type config struct {
	Kubeconfig  string   `json:"kubeconfig"`
	Rates       []int    `json:"rates"`
	Seconds     float64  `json:"seconds"`
	Warmup      float64  `json:"warmup_seconds"`
	MaxInFlight int      `json:"max_in_flight"`
	Targets     []target `json:"targets"`
	// Labels are copied into every result line (commit, Kubernetes version, machine).
	Labels map[string]any `json:"labels"`
}

type result struct {
	Rate          int            `json:"rate"`
	Target        string         `json:"target"`
	Seconds       float64        `json:"seconds"`
	Sent          int            `json:"sent"`
	Skipped       int            `json:"skipped_in_flight_limit"`
	Failed        int            `json:"failed"`
	Errors        map[string]int `json:"errors"`
	AchievedRate  float64        `json:"achieved_rate"`
	P50ms         float64        `json:"p50_ms"`
	P90ms         float64        `json:"p90_ms"`
	P99ms         float64        `json:"p99_ms"`
	MaxMs         float64        `json:"max_ms"`
	Mutated       int            `json:"mutated"`
	Annotated     int            `json:"annotated_by_noop"`
	WebhookCalls  float64        `json:"apiserver_webhook_calls"`
	WebhookMeanMs float64        `json:"apiserver_webhook_mean_ms"`
	WebhookFailed float64        `json:"apiserver_webhook_failed_calls"`
	Handshakes    float64        `json:"webhook_tls_handshakes"`
	HandshakesH2  float64        `json:"webhook_tls_handshakes_h2"`
	OwnMeanMs     float64        `json:"webhook_own_mean_ms,omitempty"`
	OwnP99UpperMs float64        `json:"webhook_own_p99_upper_ms,omitempty"`
	LoadAvgBefore string         `json:"loadavg_before"`
	LoadAvgAfter  string         `json:"loadavg_after"`
	StartedAt     string         `json:"started_at"`
}

func main() {
	configPath := flag.String("config", "", "configuration (JSON)")
	out := flag.String("json", "", "append one JSON line per rate and target to this file")
	flag.Parse()
	raw, err := os.ReadFile(*configPath)
	if err != nil {
		log.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		log.Fatalf("%s: %v", *configPath, err)
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 512
	}
	rest, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	// No client-side rate limit: the rate is this tool's, and the API server's own
	// flow control is part of what is measured.
	rest.QPS = -1
	rest.Timeout = 30 * time.Second
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		log.Fatal(err)
	}
	rawClient := client.CoreV1().RESTClient()

	var sink io.Writer = io.Discard
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		sink = f
	}
	scrape := func(path string) (metricSet, error) {
		body, err := rawClient.Get().AbsPath(path).DoRaw(context.Background())
		if err != nil {
			return nil, err
		}
		return parseMetrics(strings.NewReader(string(body))), nil
	}
	scrapeAPIServer := func() (metricSet, error) { return scrape("/metrics") }
	scrapeAll := func(paths []string) metricSet {
		all := metricSet{}
		for _, p := range paths {
			m, err := scrape(p)
			if err != nil {
				log.Fatalf("scrape %s: %v", p, err)
			}
			for k, v := range m {
				all[k] = append(all[k], v...)
			}
		}
		return all
	}

	for _, rate := range cfg.Rates {
		// Rotate the order per rate, so no target always runs first (cold) or last.
		for i := range cfg.Targets {
			t := cfg.Targets[(i+rate)%len(cfg.Targets)]
			if cfg.Warmup > 0 {
				run(client, t, rate, cfg.Warmup, cfg.MaxInFlight)
			}
			apiBefore, err := scrapeAPIServer()
			if err != nil {
				log.Fatalf("API server /metrics: %v", err)
			}
			whBefore := scrapeAll(t.MetricsPaths)
			r := run(client, t, rate, cfg.Seconds, cfg.MaxInFlight)
			apiAfter, err := scrapeAPIServer()
			if err != nil {
				log.Fatalf("API server /metrics: %v", err)
			}
			whAfter := scrapeAll(t.MetricsPaths)
			if t.Webhook != "" {
				sel := map[string]string{"name": t.Webhook}
				r.WebhookCalls = apiAfter.sum("apiserver_admission_webhook_admission_duration_seconds_count", sel) -
					apiBefore.sum("apiserver_admission_webhook_admission_duration_seconds_count", sel)
				secs := apiAfter.sum("apiserver_admission_webhook_admission_duration_seconds_sum", sel) -
					apiBefore.sum("apiserver_admission_webhook_admission_duration_seconds_sum", sel)
				if r.WebhookCalls > 0 {
					r.WebhookMeanMs = round3(secs / r.WebhookCalls * 1000)
				}
				// A failed call: an HTTP answer other than 200, a call that never got an
				// answer (code 0 or 5xx from the API server's side), or one the API server
				// ignored under failurePolicy Ignore.
				r.WebhookFailed = apiAfter.sumExcept("apiserver_admission_webhook_request_total", sel, "code", "200") -
					apiBefore.sumExcept("apiserver_admission_webhook_request_total", sel, "code", "200") +
					apiAfter.sum("apiserver_admission_webhook_fail_open_count", sel) -
					apiBefore.sum("apiserver_admission_webhook_fail_open_count", sel)
			}
			if t.HandshakeMetric != "" {
				r.Handshakes = whAfter.sum(t.HandshakeMetric, nil) - whBefore.sum(t.HandshakeMetric, nil)
				h2 := map[string]string{"protocol": "h2"}
				r.HandshakesH2 = whAfter.sum(t.HandshakeMetric, h2) - whBefore.sum(t.HandshakeMetric, h2)
			}
			if t.DurationMetric != "" {
				n := whAfter.sum(t.DurationMetric+"_count", nil) - whBefore.sum(t.DurationMetric+"_count", nil)
				s := whAfter.sum(t.DurationMetric+"_sum", nil) - whBefore.sum(t.DurationMetric+"_sum", nil)
				if n > 0 {
					r.OwnMeanMs = round3(s / n * 1000)
					if upper := bucketQuantile(whBefore, whAfter, t.DurationMetric+"_bucket", 0.99); upper >= 0 {
						r.OwnP99UpperMs = round3(upper * 1000)
					} else {
						r.OwnP99UpperMs = -1
					}
				}
			}
			line := map[string]any{}
			b, err := json.Marshal(r)
			if err != nil {
				log.Fatalf("result of %s at %d/s: %v", t.Name, rate, err)
			}
			_ = json.Unmarshal(b, &line)
			for k, v := range cfg.Labels {
				line[k] = v
			}
			if b, err = json.Marshal(line); err != nil {
				log.Fatalf("result of %s at %d/s: %v", t.Name, rate, err)
			}
			fmt.Fprintln(sink, string(b))
			fmt.Printf("%4d/s %-22s sent %6d  failed %d  p50 %6.2f ms  p99 %6.2f ms  webhook calls %6.0f mean %.3f ms failed %.0f  handshakes %.0f  own mean %.3f ms\n",
				rate, t.Name, r.Sent, r.Failed, r.P50ms, r.P99ms, r.WebhookCalls, r.WebhookMeanMs, r.WebhookFailed, r.Handshakes, r.OwnMeanMs)
		}
	}
}

// run sends dry-run creates into t's namespace at rate per second for seconds.
func run(client kubernetes.Interface, t target, rate int, seconds float64, maxInFlight int) result {
	r := result{Rate: rate, Target: t.Name, Seconds: seconds, Errors: map[string]int{}, StartedAt: time.Now().UTC().Format(time.RFC3339)}
	r.LoadAvgBefore = loadavg()
	n := int(math.Round(float64(rate) * seconds))
	interval := time.Second / time.Duration(rate)
	slots := make(chan struct{}, maxInFlight)
	var mu sync.Mutex
	var wg sync.WaitGroup
	latencies := make([]time.Duration, 0, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		select {
		case slots <- struct{}{}:
		default:
			r.Skipped++
			continue
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := client.CoreV1().Pods(t.Namespace).Create(ctx, pod(i, t.PodAnnotations), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			took := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			r.Sent++
			if err != nil {
				r.Failed++
				r.Errors[errorKind(err)]++
				return
			}
			latencies = append(latencies, took)
			if mutated(got) {
				r.Mutated++
			}
			if got.Annotations["e2e.lameduck.dev/noop"] != "" {
				r.Annotated++
			}
		}(i, due)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	r.AchievedRate = round3(float64(r.Sent-r.Failed) / elapsed)
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	r.P50ms = quantileMs(latencies, 0.50)
	r.P90ms = quantileMs(latencies, 0.90)
	r.P99ms = quantileMs(latencies, 0.99)
	r.MaxMs = quantileMs(latencies, 1)
	r.LoadAvgAfter = loadavg()
	return r
}

// pod is the pod every create sends: three containers (a front proxy, the app, a log
// shipper), as the first measurement, so lameduck has real planning to do.
func pod(i int, annotations map[string]string) *corev1.Pod {
	c := func(name, image string, port int32) corev1.Container {
		ctr := corev1.Container{Name: name, Image: image}
		if port > 0 {
			ctr.Ports = []corev1.ContainerPort{{ContainerPort: port}}
		}
		return ctr
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("create-%d", i),
			Labels:      map[string]string{"app": "createload"},
			Annotations: annotations,
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			c("nginx", "localhost/lameduck-nginx:e2e", 8000),
			c("app", "localhost/lameduck-demo:e2e", 8080),
			c("fluent-bit", "localhost/lameduck-demo:e2e", 0),
		}},
	}
}

// mutated: the answer carries a preStop hook, which the submitted pod did not.
func mutated(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
			return true
		}
	}
	return false
}

func errorKind(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return round3(float64(sorted[i]) / float64(time.Millisecond))
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// --- Prometheus text format, the few series needed ---------------------------------------

type sample struct {
	labels map[string]string
	value  float64
}

type metricSet map[string][]sample

var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseMetrics(r io.Reader) metricSet {
	m := metricSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		g := seriesLine.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		v, err := strconv.ParseFloat(g[3], 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(g[2], -1) {
			labels[p[1]] = p[2]
		}
		m[g[1]] = append(m[g[1]], sample{labels, v})
	}
	return m
}

func (m metricSet) sum(name string, match map[string]string) float64 {
	return m.sumExcept(name, match, "", "")
}

// sumExcept sums the series of name whose labels include match, leaving out those whose
// label key equals value (key empty: none left out).
func (m metricSet) sumExcept(name string, match map[string]string, key, value string) float64 {
	total := 0.0
	for _, s := range m[name] {
		ok := true
		for k, v := range match {
			if s.labels[k] != v {
				ok = false
				break
			}
		}
		if ok && (key == "" || s.labels[key] != value) {
			total += s.value
		}
	}
	return total
}

// bucketQuantile: the upper bound of the histogram bucket holding quantile q of the
// observations made between two scrapes (summed over replicas).
func bucketQuantile(before, after metricSet, name string, q float64) float64 {
	counts := map[float64]float64{}
	for _, s := range after[name] {
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err == nil {
			counts[le] += s.value
		}
	}
	for _, s := range before[name] {
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err == nil {
			counts[le] -= s.value
		}
	}
	bounds := make([]float64, 0, len(counts))
	for le := range counts {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0
	}
	total := counts[bounds[len(bounds)-1]]
	for _, le := range bounds {
		if counts[le] >= q*total {
			if math.IsInf(le, 1) {
				// Above the last finite bound: say so with a negative number, which
				// JSON can carry and the table shows as it is.
				return -1
			}
			return le
		}
	}
	return -1
}
