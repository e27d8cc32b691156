package main

// The YAML people paste from `kubectl get -o yaml` after a formatter has indented its
// sequences (`containers:` then `  - name: ...`, as yq, editors and kyaml write them):
// every line moves right with its sequence, except the continuation lines of quoted
// strings go-yaml wrapped, which keep their column. Those can end up left of the key
// they belong to, which go-yaml (and so kubectl) still reads.

import (
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// indentSequences shifts each sequence that kubectl wrote at its key's column two
// columns right, leaving wrapped quoted strings' continuation lines where they are.
func indentSequences(text []byte) ([]byte, error) {
	// go-yaml counts these as line breaks too: node lines would not be text lines.
	if strings.ContainsAny(string(text), "\r\u0085\u2028\u2029") {
		return text, nil
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(text, &root); err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(text), "\n")
	shift := make([]int, len(lines)+2)
	keep := make([]bool, len(lines)+2)
	var walk func(node *yamlv3.Node, end int)
	walk = func(node *yamlv3.Node, end int) {
		switch node.Kind {
		case yamlv3.DocumentNode:
			for _, child := range node.Content {
				walk(child, end)
			}
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(node.Content); i += 2 {
				key, value := node.Content[i], node.Content[i+1]
				valueEnd := end
				if i+2 < len(node.Content) {
					valueEnd = node.Content[i+2].Line - 1
				}
				if value.Kind == yamlv3.SequenceNode && value.Style&yamlv3.FlowStyle == 0 &&
					len(value.Content) > 0 && value.Column == key.Column {
					for line := value.Line; line <= valueEnd; line++ {
						shift[line] += 2
					}
				}
				walk(value, valueEnd)
			}
		case yamlv3.SequenceNode:
			for i, child := range node.Content {
				childEnd := end
				if i+1 < len(node.Content) {
					childEnd = node.Content[i+1].Line - 1
				}
				walk(child, childEnd)
			}
		case yamlv3.ScalarNode:
			if node.Style&(yamlv3.SingleQuotedStyle|yamlv3.DoubleQuotedStyle) != 0 {
				for line := node.Line + 1; line <= end && line <= len(lines); line++ {
					keep[line] = true
				}
			}
		}
	}
	walk(&root, len(lines))
	var out strings.Builder
	for i, line := range lines {
		number := i + 1
		if !keep[number] && strings.TrimSpace(line) != "" {
			out.WriteString(strings.Repeat(" ", shift[number]))
		}
		out.WriteString(line)
	}
	return []byte(out.String()), nil
}
