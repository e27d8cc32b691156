package main

// Generated input: random Kubernetes-like objects written the ways YAML about Kubernetes
// is written, then read back by sigs.k8s.io/yaml (what kubectl reads with), so lameduck's
// reading can be compared with kubectl's on text no one wrote by hand.
//
// The writers:
//   - sigs.k8s.io/yaml Marshal: what `kubectl get -o yaml` prints (the object as JSON,
//     then go-yaml v2's emitter, which wraps long quoted strings at 80 columns and
//     indents their continuation lines less than the key they belong to);
//   - sigs.k8s.io/yaml JSONToYAML of the JSON text (the same emitter; JSON's key order);
//   - kubectl's output after a formatter indented its sequences, wrapped strings' lines
//     left where they were (reindent.go), so they can sit left of their key;
//   - go-yaml v3's encoder with a 2-space indent (kustomize and kyaml write this way),
//     and the same nested one level deeper, as a List's item is.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// sample is one generated document and how kubectl reads it.
type sample struct {
	Writer string          `json:"writer"`
	YAML   string          `json:"yaml"`
	JSON   json.RawMessage `json:"json,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func generate(args []string) {
	flags := flag.NewFlagSet("generate", flag.ExitOnError)
	seed := flags.Int64("seed", 1, "random seed")
	count := flags.Int("count", 1000, "objects to generate (each written by every writer)")
	_ = flags.Parse(args)
	g := &generator{rand: rand.New(rand.NewSource(*seed))}
	var samples []sample
	for i := 0; i < *count; i++ {
		object := g.object(i)
		raw, err := json.Marshal(object)
		if err != nil {
			fail("marshalling JSON: %v", err)
		}
		for _, w := range writers {
			text, err := w.write(object, raw)
			if err != nil {
				fail("%s: %v", w.name, err)
			}
			s := sample{Writer: w.name, YAML: string(text)}
			if converted, err := yaml.YAMLToJSON(text); err != nil {
				s.Error = err.Error()
			} else {
				s.JSON = converted
			}
			samples = append(samples, s)
		}
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(samples); err != nil {
		fail("writing: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "yaml-diff generate: "+format+"\n", args...)
	os.Exit(1)
}

type writer struct {
	name  string
	write func(object any, raw []byte) ([]byte, error)
}

var writers = []writer{
	{"kubectl", func(object any, _ []byte) ([]byte, error) { return yaml.Marshal(object) }},
	{"JSONToYAML", func(_ any, raw []byte) ([]byte, error) { return yaml.JSONToYAML(raw) }},
	{"kubectl, sequences indented", func(object any, _ []byte) ([]byte, error) {
		text, err := yaml.Marshal(object)
		if err != nil {
			return nil, err
		}
		return indentSequences(text)
	}},
	{"yaml.v3", func(object any, _ []byte) ([]byte, error) { return encodeV3(object) }},
	{"yaml.v3 list", func(object any, _ []byte) ([]byte, error) {
		return encodeV3(map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{object}})
	}},
}

func encodeV3(object any) ([]byte, error) {
	var buffer bytes.Buffer
	encoder := yamlv3.NewEncoder(&buffer)
	encoder.SetIndent(2)
	if err := encoder.Encode(object); err != nil {
		return nil, err
	}
	err := encoder.Close()
	return buffer.Bytes(), err
}

type generator struct {
	rand *rand.Rand
}

func (g *generator) pick(choices ...string) string {
	return choices[g.rand.Intn(len(choices))]
}

func (g *generator) chance(percent int) bool {
	return g.rand.Intn(100) < percent
}

// Words that make strings look like what manifests carry: templates, quotes, escapes,
// YAML indicators, and text a YAML 1.1 reader would take for another type.
var words = []string{
	"the", "request", "latency", "{{.Request.Method}}", "{{ .Values.image.tag }}",
	`"quoted"`, "'single'", "it's", `say "hi"`, `back\slash`, `C:\path\to`, "key: value",
	"# not a comment", "- dash", "[flow]", "{brace}", "a,b", "&anchor", "*alias", "!tag",
	"%percent", "@at", "`tick`", "|pipe", ">fold", "?", ":", "--", "---", "...", "ünïcödé",
	"日本語", "emoji🙂", "ｆｕｌｌ", "tab\there", "0755", "1e3", "yes", "no", "on", "null",
	"~", "true", "0x1F", "1_000", ".inf", "12:30", "2001-12-14", "+1", "-", "<<", "=",
	"https://example.com/a?b=c&d=e#f", "/wait-for-drain", "$(POD_NAME)", "${HOME}",
	"\\n", "%s", "\u00a0nbsp", "zero\u200bwidth", "line\u2028sep", "x",
}

// scalarLike are whole values a YAML 1.1 reader would not read as strings unless quoted.
var scalarLike = []string{
	"0755", "0o17", "0x1F", "1_000", "1e3", "1.5", ".5", "+12", "-0", "yes", "No", "on",
	"OFF", "y", "n", "true", "False", "null", "~", "", " ", ".inf", "-.Inf", ".nan",
	"2001-12-14", "2001-12-14T21:59:43Z", "12:30:00", "1:20", "<<", "=", "-", "?", ":",
	"'", "\"", "#", "&a", "*a", "!a", "|", ">", "%", "@", "`", "[]", "{}", "- a", "a: b",
	"a #b", " leading", "trailing ", "\n", "\t", "\\", "9223372036854775808", "0.1e-5",
}

func (g *generator) sentence(min, max int) string {
	n := min + g.rand.Intn(max-min+1)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = words[g.rand.Intn(len(words))]
	}
	separator := " "
	if g.chance(5) {
		separator = "  "
	}
	return strings.Join(parts, separator)
}

// text is a string value: short or long (long ones wrap), one line or several.
func (g *generator) text() string {
	switch g.rand.Intn(10) {
	case 0, 1:
		return scalarLike[g.rand.Intn(len(scalarLike))]
	case 2, 3, 4:
		return g.sentence(8, 40)
	case 5:
		// Multi-line: block scalars, or quoted with escapes when a line has trailing
		// blanks or tabs.
		lines := make([]string, 1+g.rand.Intn(5))
		for i := range lines {
			lines[i] = g.sentence(0, 12)
		}
		text := strings.Join(lines, "\n")
		if g.chance(50) {
			text += "\n"
		}
		return text
	case 6:
		// A long word with no space to wrap at, then more text.
		return strings.Repeat(g.pick("a", "é", "{", "0"), 60+g.rand.Intn(60)) + " " + g.sentence(1, 10)
	default:
		return g.sentence(1, 6)
	}
}

func (g *generator) name() string {
	return g.pick("app", "web", "user-container", "queue-proxy", "envoy", "shutdown-manager", "db") +
		fmt.Sprint("-", g.rand.Intn(100))
}

func (g *generator) labels() map[string]any {
	m := map[string]any{}
	for i := g.rand.Intn(4); i > 0; i-- {
		key := g.pick("app", "app.kubernetes.io/name", "serving.knative.dev/revision", "tier", "version")
		m[key] = g.text()
	}
	return m
}

func (g *generator) container() map[string]any {
	c := map[string]any{
		"name":  g.name(),
		"image": g.pick("nginx:1.27", "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:65c427aaab3be9cea1afea32cdef26d5855c69403077d2dc3439f75c26a1e83f", "docker.io/envoyproxy/envoy:distroless-v1.35.8"),
	}
	if g.chance(70) {
		var env []any
		for i := g.rand.Intn(6); i > 0; i-- {
			e := map[string]any{"name": strings.ToUpper(g.pick("port", "serving_request_log_template", "template", "config", "flag"))}
			switch g.rand.Intn(4) {
			case 0:
				// `- name: X` alone: an empty value.
			case 1:
				e["valueFrom"] = map[string]any{"fieldRef": map[string]any{"apiVersion": "v1", "fieldPath": "metadata.name"}}
			default:
				e["value"] = g.text()
			}
			env = append(env, e)
		}
		c["env"] = env
	}
	if g.chance(50) {
		c["args"] = g.list(func() any { return g.text() })
	}
	if g.chance(40) {
		c["ports"] = []any{map[string]any{"containerPort": 8000 + g.rand.Intn(2000), "name": g.pick("http", "queue-port", "http-queueadm"), "protocol": "TCP"}}
	}
	if g.chance(30) {
		c["lifecycle"] = map[string]any{"preStop": map[string]any{"httpGet": map[string]any{"path": "/wait-for-drain", "port": 8022, "scheme": "HTTP"}}}
	}
	if g.chance(20) {
		c["resources"] = map[string]any{}
	}
	return c
}

func (g *generator) list(item func() any) []any {
	out := []any{}
	for i := g.rand.Intn(5); i > 0; i-- {
		out = append(out, item())
	}
	return out
}

// value is anything at all, nested up to depth levels: lists of lists, empty maps.
func (g *generator) value(depth int) any {
	if depth <= 0 {
		switch g.rand.Intn(8) {
		case 0:
			return g.rand.Intn(100000) - 50000
		case 1:
			return g.rand.Float64() * 1000
		case 2:
			return g.chance(50)
		case 3:
			return nil
		default:
			return g.text()
		}
	}
	switch g.rand.Intn(4) {
	case 0:
		return g.list(func() any { return g.value(depth - 1) })
	case 1:
		m := map[string]any{}
		for i := g.rand.Intn(4); i > 0; i-- {
			m[g.pick("a", "key", "yes", "0755", "with space", "dotted.key/name", "ünï", "{{x}}", "")] = g.value(depth - 1)
		}
		return m
	default:
		return g.value(0)
	}
}

func (g *generator) object(i int) map[string]any {
	annotations := map[string]any{}
	for j := g.rand.Intn(4); j > 0; j-- {
		annotations[g.pick("kubectl.kubernetes.io/last-applied-configuration", "description", "lameduck.dev/sleep", "note")] = g.text()
	}
	var containers []any
	for j := 1 + g.rand.Intn(3); j > 0; j-- {
		containers = append(containers, g.container())
	}
	template := map[string]any{
		"metadata": map[string]any{"labels": g.labels(), "annotations": annotations},
		"spec":     map[string]any{"containers": containers, "terminationGracePeriodSeconds": g.rand.Intn(400)},
	}
	object := map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": fmt.Sprint("generated-", i), "labels": g.labels(), "annotations": annotations},
		"spec":       map[string]any{"replicas": g.rand.Intn(5), "template": template},
	}
	if g.chance(50) {
		object["data"] = g.value(3)
	}
	return object
}
