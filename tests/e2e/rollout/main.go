// rollout-load: constant HTTP load through a rolling update, counting what clients see.
//
// For each of -rollouts rounds it starts a vegeta attack (keep-alive off, so every request
// opens a new connection and meets whatever kube-proxy currently routes to), runs
// `kubectl rollout restart`, waits until the rollout is complete AND every old pod is
// gone (a pod in its preStop sleep still holds endpoints' attention), keeps the load on
// for -settle more, then stops and reports: requests, failures (transport errors and
// non-2xx answers) and the rollout's duration (restart to last old pod gone).
//
// One JSON object per round goes to -json (appended), a human line to stdout.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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

type round struct {
	Scenario  string         `json:"scenario"`
	Variant   string         `json:"variant"`
	Round     int            `json:"round"`
	Requests  int            `json:"requests"`
	Failed    int            `json:"failed"`
	Transport int            `json:"transport_errors"`
	Codes     map[string]int `json:"non_2xx_codes"`
	Errors    map[string]int `json:"errors"`
	Seconds   float64        `json:"rollout_seconds"`
}

type tally struct {
	mu sync.Mutex
	r  round
}

func (t *tally) add(res *vegeta.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.r.Requests++
	switch {
	case res.Error != "" && res.Code == 0:
		t.r.Failed++
		t.r.Transport++
		t.r.Errors[shortError(res.Error)]++
	case res.Code < 200 || res.Code > 299:
		t.r.Failed++
		t.r.Codes[strconv.Itoa(int(res.Code))]++
	}
}

// shortError keeps the part of a transport error that says what happened
// ("connection refused", "connection reset by peer", "EOF", a timeout), not the
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

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rollout-load:", err)
		os.Exit(1)
	}
}

func run() error {
	kubectl := flag.String("kubectl", "kubectl", "kubectl binary (KUBECONFIG from the environment)")
	ns := flag.String("namespace", "", "namespace of the Deployment")
	deploy := flag.String("deployment", "", "Deployment to restart")
	selector := flag.String("selector", "", "label selector of the Deployment's pods")
	target := flag.String("target", "", "URL to load, e.g. http://127.0.0.1:30080/")
	rate := flag.Int("rate", 150, "requests per second")
	rollouts := flag.Int("rollouts", 3, "rollout restarts to measure")
	settle := flag.Duration("settle", 2*time.Second, "load before each restart and after its last old pod is gone")
	timeout := flag.Duration("timeout", 5*time.Minute, "deadline for one rollout")
	scenario := flag.String("scenario", "", "scenario name for the report")
	variant := flag.String("variant", "", "variant name for the report (e.g. without, with)")
	jsonOut := flag.String("json", "", "append one JSON object per round to this file")
	flag.Parse()
	if *ns == "" || *deploy == "" || *selector == "" || *target == "" {
		return errors.New("-namespace, -deployment, -selector and -target are required")
	}
	k := kube{bin: *kubectl, ns: *ns}
	replicas, err := k.out("get", "deployment", *deploy, "-o", "jsonpath={.spec.replicas}")
	if err != nil {
		return err
	}
	want, err := strconv.Atoi(replicas)
	if err != nil {
		return fmt.Errorf("replicas %q: %w", replicas, err)
	}

	for i := 1; i <= *rollouts; i++ {
		t := &tally{r: round{Scenario: *scenario, Variant: *variant, Round: i, Codes: map[string]int{}, Errors: map[string]int{}}}
		attacker := vegeta.NewAttacker(vegeta.KeepAlive(false), vegeta.Timeout(5*time.Second))
		targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: *target})
		results := attacker.Attack(targeter, vegeta.Rate{Freq: *rate, Per: time.Second}, 0, fmt.Sprintf("rollout-%d", i))
		done := make(chan struct{})
		go func() {
			for res := range results {
				t.add(res)
			}
			close(done)
		}()

		// Load before the restart: the round also shows that the steady state is clean.
		time.Sleep(*settle)
		started := time.Now()
		err := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			if _, err := k.out("rollout", "restart", "deployment/"+*deploy); err != nil {
				return err
			}
			if _, err := k.outCtx(ctx, "rollout", "status", "deployment/"+*deploy, "--timeout="+timeout.String()); err != nil {
				return err
			}
			return k.waitPods(ctx, *selector, want)
		}()
		seconds := time.Since(started).Seconds()
		if err == nil {
			time.Sleep(*settle)
		}
		attacker.Stop()
		<-done
		if err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		t.r.Seconds = float64(int(seconds*10)) / 10
		report(t.r)
		if *jsonOut != "" {
			if err := appendJSON(*jsonOut, t.r); err != nil {
				return err
			}
		}
	}
	return nil
}

func report(r round) {
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
	fmt.Printf("%s %s round %d: %d requests, %d failed [%s], rollout %.1fs\n",
		r.Scenario, r.Variant, r.Round, r.Requests, r.Failed, strings.Join(details, ", "), r.Seconds)
}

func appendJSON(path string, r round) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	return json.NewEncoder(f).Encode(r)
}

type kube struct{ bin, ns string }

func (k kube) out(args ...string) (string, error) {
	return k.outCtx(context.Background(), args...)
}

func (k kube) outCtx(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"-n", k.ns}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// waitPods waits until exactly `want` pods match the selector and none is terminating:
// the rollout is over for clients only when the last old pod has stopped.
func (k kube) waitPods(ctx context.Context, selector string, want int) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := k.outCtx(ctx, "get", "pods", "-l", selector, "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}`)
		if err == nil {
			pods, terminating := 0, 0
			for _, line := range strings.Split(out, "\n") {
				fields := strings.Fields(line)
				if len(fields) == 0 {
					continue
				}
				pods++
				if len(fields) > 1 {
					terminating++
				}
			}
			if pods == want && terminating == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("old pods still there after the rollout: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
