// Command yaml-diff converts YAML documents to JSON exactly as kubectl does
// (sigs.k8s.io/yaml), so lameduck's own YAML reading can be checked against it.
//
// Input on stdin: a JSON array of YAML documents (strings). Output on stdout: a JSON
// array with, for each document, {"json": <value>} or {"error": "<message>"}.
//
// `yaml-diff generate -seed N -count M` writes generated documents instead (generate.go).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

type result struct {
	JSON  json.RawMessage `json:"json,omitempty"`
	Error string          `json:"error,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "generate" {
		generate(os.Args[2:])
		return
	}
	var documents []string
	if err := json.NewDecoder(os.Stdin).Decode(&documents); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-diff: reading the corpus:", err)
		os.Exit(1)
	}
	results := make([]result, 0, len(documents))
	for _, document := range documents {
		converted, err := yaml.YAMLToJSON([]byte(document))
		if err != nil {
			results = append(results, result{Error: err.Error()})
			continue
		}
		results = append(results, result{JSON: converted})
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-diff: writing:", err)
		os.Exit(1)
	}
}
