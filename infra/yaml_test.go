package infra_test

// A reader for the YAML subset azure.yaml uses: nested maps of scalars,
// comments, and nothing else (no lists, anchors or multi-line scalars). It
// fails on anything outside that subset, so azure.yaml cannot grow a
// construct the tests would silently misread.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type yamlMap map[string]any // values are string or yamlMap

type yamlLine struct {
	indent int
	key    string
	value  string
	hasVal bool
	num    int
}

func parseYAMLSubset(src string) (yamlMap, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		text := stripYAMLComment(raw)
		if strings.TrimSpace(text) == "" {
			continue
		}
		if strings.Contains(text, "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		trimmed := strings.TrimLeft(text, " ")
		indent := len(text) - len(trimmed)
		if strings.HasPrefix(trimmed, "- ") || trimmed == "-" || strings.HasPrefix(trimmed, "&") ||
			strings.HasPrefix(trimmed, "*") || strings.HasPrefix(trimmed, "---") {
			return nil, fmt.Errorf("line %d: %q is outside the YAML subset the tests read", i+1, trimmed)
		}
		colon := strings.Index(trimmed, ":")
		if colon < 0 || (colon+1 < len(trimmed) && trimmed[colon+1] != ' ') {
			return nil, fmt.Errorf("line %d: expected \"key: value\": %q", i+1, trimmed)
		}
		key := strings.TrimSpace(trimmed[:colon])
		value := strings.TrimSpace(trimmed[colon+1:])
		if strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">") || strings.HasPrefix(value, "[") ||
			strings.HasPrefix(value, "{") || strings.HasPrefix(value, "&") || strings.HasPrefix(value, "*") {
			return nil, fmt.Errorf("line %d: value %q is outside the YAML subset the tests read", i+1, value)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') {
			if value[len(value)-1] != value[0] {
				return nil, fmt.Errorf("line %d: unterminated quoted value", i+1)
			}
			value = value[1 : len(value)-1]
		}
		lines = append(lines, yamlLine{indent: indent, key: key, value: value, hasVal: value != "", num: i + 1})
	}
	m, rest, err := yamlBlock(lines, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("line %d: bad indentation", rest[0].num)
	}
	return m, nil
}

func yamlBlock(lines []yamlLine, indent int) (yamlMap, []yamlLine, error) {
	m := yamlMap{}
	for len(lines) > 0 {
		l := lines[0]
		if l.indent < indent {
			return m, lines, nil
		}
		if l.indent > indent {
			return nil, nil, fmt.Errorf("line %d: unexpected indentation", l.num)
		}
		if _, dup := m[l.key]; dup {
			return nil, nil, fmt.Errorf("line %d: duplicate key %q", l.num, l.key)
		}
		lines = lines[1:]
		if l.hasVal {
			m[l.key] = l.value
			continue
		}
		if len(lines) == 0 || lines[0].indent <= indent {
			m[l.key] = ""
			continue
		}
		child, rest, err := yamlBlock(lines, lines[0].indent)
		if err != nil {
			return nil, nil, err
		}
		m[l.key] = child
		lines = rest
	}
	return m, nil, nil
}

// stripYAMLComment drops a " #" comment that is not inside quotes.
func stripYAMLComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return line[:i]
		}
	}
	return line
}

// at is the value under the path keys, or nil.
func (m yamlMap) at(keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(yamlMap)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func (m yamlMap) str(keys ...string) string {
	s, _ := m.at(keys...).(string)
	return s
}

func (m yamlMap) sub(keys ...string) yamlMap {
	mm, _ := m.at(keys...).(yamlMap)
	return mm
}

func azureYAML(t *testing.T) yamlMap {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "azure.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseYAMLSubset(string(data))
	if err != nil {
		t.Fatalf("azure.yaml: %v", err)
	}
	if len(m.sub("services")) == 0 {
		t.Fatal("azure.yaml declares no services")
	}
	return m
}

func TestYAMLReader(t *testing.T) {
	m, err := parseYAMLSubset("# c\nname: x # trailing\nservices:\n  api:\n    host: function\n    dist: \"dist/api.zip\"\n  worker:\n    docker:\n      remoteBuild: true\n")
	if err != nil {
		t.Fatal(err)
	}
	if m.str("name") != "x" || m.str("services", "api", "dist") != "dist/api.zip" || m.str("services", "worker", "docker", "remoteBuild") != "true" {
		t.Errorf("parsed %v", m)
	}
	for _, bad := range []string{"a:\n  - b\n", "a: [1]\n", "a:\n    b: 1\n  c: 2\n", "a: 1\na: 2\n", "a\n"} {
		if _, err := parseYAMLSubset(bad); err == nil {
			t.Errorf("parseYAMLSubset(%q) gave no error", bad)
		}
	}
}
