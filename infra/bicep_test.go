package infra_test

// A small reader for the subset of Bicep these templates use: top-level
// declarations (param, var, resource, module, output, targetScope) and
// object and array literals. It is no compiler; it is enough to check the
// templates' structure and names without one.

import (
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// bicepFile is one parsed .bicep file.
type bicepFile struct {
	path  string // slash-separated, relative to the repository root
	src   string
	code  string // src with comments blanked out (same length and lines)
	mask  string // code with string contents blanked out too
	decls []*decl
}

// decl is one top-level declaration.
type decl struct {
	kind       string   // param, var, resource, module, output, targetScope, ...
	name       string   // symbolic name ("" for targetScope)
	decorators []string // e.g. "@minLength(1)"
	header     string   // text between the name and "=", comments blanked: a type, 'Type@version', a path...
	value      string   // text after "=", trimmed, comments blanked; "" for a param with no default
	line       int
}

// quoted returns the quoted first word of the header: the resource type or the
// module path.
func (d *decl) quoted() string {
	h := strings.TrimSpace(d.header)
	if !strings.HasPrefix(h, "'") {
		return ""
	}
	end := strings.Index(h[1:], "'")
	if end < 0 {
		return ""
	}
	return h[1 : end+1]
}

// body returns the object literal of a resource or module, without a
// leading "if (...)" condition.
func (d *decl) body() string {
	v := strings.TrimSpace(d.value)
	if strings.HasPrefix(v, "if") {
		if i := strings.Index(v, "{"); i >= 0 {
			return v[i:]
		}
	}
	return v
}

// condition returns the "(...)" of an "if (...)" resource or module, or "".
func (d *decl) condition() string {
	v := strings.TrimSpace(d.value)
	if !strings.HasPrefix(v, "if") {
		return ""
	}
	i := strings.Index(v, "{")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(v[2:i])
}

func (f *bicepFile) find(kind, name string) *decl {
	for _, d := range f.decls {
		if d.kind == kind && d.name == name {
			return d
		}
	}
	return nil
}

func (f *bicepFile) all(kind string) []*decl {
	var out []*decl
	for _, d := range f.decls {
		if d.kind == kind {
			out = append(out, d)
		}
	}
	return out
}

// maskBicep blanks out comments (into code) and, additionally, the literal
// text of strings (into mask), keeping every newline so offsets and line
// numbers stay the same. Interpolations stay in mask: "${name}" is code.
func maskBicep(src string) (code, mask string, err error) {
	c := []byte(src)
	m := []byte(src)
	n := len(src)
	for i := 0; i < n; {
		switch {
		case strings.HasPrefix(src[i:], "//"):
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				j = n - i
			}
			blank(c, i, i+j)
			blank(m, i, i+j)
			i += j
		case strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return "", "", fmt.Errorf("line %d: unterminated /* comment", lineOf(src, i))
			}
			blank(c, i, i+j+4)
			blank(m, i, i+j+4)
			i += j + 4
		case strings.HasPrefix(src[i:], "'''"):
			j := strings.Index(src[i+3:], "'''")
			if j < 0 {
				return "", "", fmt.Errorf("line %d: unterminated ''' string", lineOf(src, i))
			}
			blank(m, i+3, i+3+j)
			i += j + 6
		case src[i] == '\'':
			j, err := scanString(src, m, i)
			if err != nil {
				return "", "", err
			}
			i = j
		default:
			i++
		}
	}
	return string(c), string(m), nil
}

// blank replaces b[from:to] with spaces, keeping newlines.
func blank(b []byte, from, to int) {
	for k := from; k < to && k < len(b); k++ {
		if b[k] != '\n' {
			b[k] = ' '
		}
	}
}

// scanString returns the offset just past the string literal opening at i,
// blanking its literal text in mask but not its ${...} interpolations (which
// may hold strings of their own).
func scanString(src string, mask []byte, i int) (int, error) {
	start := i
	for k := i + 1; k < len(src); {
		switch {
		case src[k] == '\\':
			blank(mask, k, k+2)
			k += 2
		case src[k] == '\'':
			return k + 1, nil
		case src[k] == '\n':
			return 0, fmt.Errorf("line %d: unterminated string", lineOf(src, start))
		case strings.HasPrefix(src[k:], "${"):
			depth := 1
			k += 2
			for k < len(src) && depth > 0 {
				switch src[k] {
				case '\'':
					j, err := scanString(src, mask, k)
					if err != nil {
						return 0, err
					}
					k = j
					continue
				case '\n':
					return 0, fmt.Errorf("line %d: unterminated interpolation", lineOf(src, start))
				case '{':
					depth++
				case '}':
					depth--
				}
				k++
			}
		default:
			blank(mask, k, k+1)
			k++
		}
	}
	return 0, fmt.Errorf("line %d: unterminated string", lineOf(src, start))
}

func lineOf(src string, offset int) int { return strings.Count(src[:offset], "\n") + 1 }

// checkBalanced reports the first unbalanced bracket in masked text.
func checkBalanced(mask string) error {
	pairs := map[byte]byte{')': '(', ']': '[', '}': '{'}
	type open struct {
		c    byte
		line int
	}
	var stack []open
	line := 1
	for i := 0; i < len(mask); i++ {
		c := mask[i]
		switch c {
		case '\n':
			line++
		case '(', '[', '{':
			stack = append(stack, open{c, line})
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1].c != pairs[c] {
				return fmt.Errorf("line %d: unexpected %q", line, c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return fmt.Errorf("line %d: %q is never closed", top.line, top.c)
	}
	return nil
}

var declStart = regexp.MustCompile(`^(targetScope|param|var|resource|module|output|type|func|metadata|import)\b\s*([A-Za-z_][A-Za-z0-9_]*)?`)

// parseBicep reads a file into declarations.
func parseBicep(root, rel string) (*bicepFile, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	src := strings.ReplaceAll(string(data), "\r\n", "\n")
	code, mask, err := maskBicep(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	if err := checkBalanced(mask); err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	f := &bicepFile{path: rel, src: src, code: code, mask: mask}

	// Statements start on a line at bracket depth 0 and run until a line
	// ends at depth 0 again.
	var decorators []string
	depth, stmtStart := 0, -1
	lineStart := 0
	for i := 0; i <= len(mask); i++ {
		if i < len(mask) && mask[i] != '\n' {
			switch mask[i] {
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				depth--
			}
			if stmtStart < 0 && mask[i] != ' ' && mask[i] != '\t' {
				stmtStart = lineStart
			}
			continue
		}
		// end of a line
		if stmtStart >= 0 && depth == 0 {
			text := strings.TrimSpace(code[stmtStart:i])
			masked := strings.TrimSpace(mask[stmtStart:i])
			if strings.HasPrefix(masked, "@") {
				decorators = append(decorators, text)
			} else {
				d, err := parseDecl(text, masked, lineOf(src, stmtStart))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", rel, err)
				}
				d.decorators = decorators
				decorators = nil
				f.decls = append(f.decls, d)
			}
			stmtStart = -1
		}
		lineStart = i + 1
	}
	if len(decorators) > 0 {
		return nil, fmt.Errorf("%s: decorators at the end of the file", rel)
	}
	return f, nil
}

func parseDecl(text, masked string, line int) (*decl, error) {
	m := declStart.FindStringSubmatch(masked)
	if m == nil {
		return nil, fmt.Errorf("line %d: not a declaration: %.40q", line, text)
	}
	d := &decl{kind: m[1], line: line}
	rest := text[len(m[0]):]
	restMask := masked[len(m[0]):]
	if d.kind != "targetScope" {
		d.name = m[2]
	}
	if eq := assignment(restMask); eq >= 0 {
		d.header = strings.TrimSpace(rest[:eq])
		d.value = strings.TrimSpace(rest[eq+1:])
	} else {
		d.header = strings.TrimSpace(rest)
	}
	return d, nil
}

// levels yields each offset of mask with its bracket depth: the number of
// brackets around it, so an opening or closing bracket is at the depth of
// the text outside it.
func levels(mask string) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		depth := 0
		for i := 0; i < len(mask); i++ {
			switch mask[i] {
			case '(', '[', '{':
				if !yield(i, depth) {
					return
				}
				depth++
				continue
			case ')', ']', '}':
				depth--
			}
			if !yield(i, depth) {
				return
			}
		}
	}
}

// assignment returns the offset of the first top-level "=" that is not part
// of ==, !=, <=, >= or =~, or -1.
func assignment(mask string) int {
	for i, depth := range levels(mask) {
		if depth != 0 || mask[i] != '=' {
			continue
		}
		if i+1 < len(mask) && (mask[i+1] == '=' || mask[i+1] == '~') {
			continue
		}
		if i > 0 && strings.ContainsRune("=!<>", rune(mask[i-1])) {
			continue
		}
		return i
	}
	return -1
}

// items splits an object or array literal ("{...}" or "[...]") into its
// top-level entries, which are separated by newlines or commas.
func items(literal string) ([]string, error) {
	literal = strings.TrimSpace(literal)
	_, mask, err := maskBicep(literal)
	if err != nil {
		return nil, err
	}
	if len(literal) < 2 || !strings.Contains("{[", literal[:1]) {
		return nil, fmt.Errorf("not an object or array literal: %.40q", literal)
	}
	var out []string
	start := 1
	for i, depth := range levels(mask) {
		switch mask[i] {
		case ')', ']', '}':
			if depth == 0 {
				if s := strings.TrimSpace(literal[start:i]); s != "" {
					out = append(out, s)
				}
				if i != len(mask)-1 {
					return nil, fmt.Errorf("text after the literal: %.40q", literal[i+1:])
				}
				return out, nil
			}
		case '\n', ',':
			if depth == 1 {
				if s := strings.TrimSpace(literal[start:i]); s != "" {
					out = append(out, s)
				}
				start = i + 1
			}
		}
	}
	return nil, fmt.Errorf("unterminated literal: %.40q", literal)
}

// arrayEntry is one element of an array literal, and when it is there.
// Bicep's spread of a conditional, "...(cond ? [a] : [b])", puts a in the
// array when cond holds and b when it does not; the templates use it for
// entries that exist only when a parameter is set.
type arrayEntry struct {
	text string
	// cond is "" for an entry that is always there; otherwise the entry is
	// there when cond evaluates to when.
	cond string
	when bool
}

// arrayEntries splits an array literal as items does, and each spread of a
// conditional into the entries of its two branches.
func arrayEntries(literal string) ([]arrayEntry, error) {
	entries, err := items(literal)
	if err != nil {
		return nil, err
	}
	var out []arrayEntry
	for _, e := range entries {
		spread, ok := strings.CutPrefix(e, "...")
		if !ok {
			out = append(out, arrayEntry{text: e})
			continue
		}
		inner, ok := parenthesized(strings.TrimSpace(spread))
		if !ok {
			return nil, fmt.Errorf("spread of something other than a parenthesized conditional: %.60q", e)
		}
		cond, a, b, ok := splitTernary(inner)
		if !ok {
			return nil, fmt.Errorf("spread of something other than a conditional: %.60q", e)
		}
		for _, branch := range []struct {
			text string
			when bool
		}{{a, true}, {b, false}} {
			if !strings.HasPrefix(branch.text, "[") {
				return nil, fmt.Errorf("spread of a conditional whose branch is not an array literal: %.60q", e)
			}
			sub, err := items(branch.text)
			if err != nil {
				return nil, err
			}
			for _, s := range sub {
				out = append(out, arrayEntry{text: s, cond: cond, when: branch.when})
			}
		}
	}
	return out, nil
}

// parenthesized returns what is inside s when s is one parenthesized
// expression, "(...)".
func parenthesized(s string) (string, bool) {
	_, mask, err := maskBicep(s)
	if err != nil || !strings.HasPrefix(mask, "(") {
		return "", false
	}
	for i, depth := range levels(mask) {
		if depth == 0 && strings.IndexByte(")]}", mask[i]) >= 0 {
			return strings.TrimSpace(s[1:i]), i == len(mask)-1
		}
	}
	return "", false
}

// String says when the entry is there, for messages.
func (e arrayEntry) String() string {
	if e.cond == "" {
		return "always there"
	}
	return fmt.Sprintf("there when %s is %v", e.cond, e.when)
}

// present reports whether the entry is in the array given values for the
// parameters its condition reads; ok is false when the condition cannot be
// evaluated.
func (e arrayEntry) present(values map[string]string) (there, ok bool) {
	if e.cond == "" {
		return true, true
	}
	truth, ok := evalCondition(e.cond, values)
	return truth == e.when, ok
}

// prop is one "key: value" entry of an object literal.
type prop struct{ key, value string }

// props parses an object literal.
func props(literal string) ([]prop, error) {
	entries, err := items(literal)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(strings.TrimSpace(literal), "{") {
		return nil, fmt.Errorf("not an object literal: %.40q", literal)
	}
	var out []prop
	for _, e := range entries {
		_, mask, err := maskBicep(e)
		if err != nil {
			return nil, err
		}
		colon := strings.IndexByte(mask, ':')
		if colon < 0 {
			return nil, fmt.Errorf("object entry without a key: %.40q", e)
		}
		key := strings.TrimSpace(e[:colon])
		key = strings.Trim(key, "'")
		out = append(out, prop{key: key, value: strings.TrimSpace(e[colon+1:])})
	}
	return out, nil
}

// get returns the value of key in an object literal, or "".
func get(literal, key string) string {
	ps, err := props(literal)
	if err != nil {
		return ""
	}
	for _, p := range ps {
		if p.key == key {
			return p.value
		}
	}
	return ""
}

// dig follows keys through nested object literals.
func dig(literal string, keys ...string) string {
	v := literal
	for _, k := range keys {
		v = get(v, k)
		if v == "" {
			return ""
		}
	}
	return v
}

// unquote returns the content of a plain string literal, or "" if s is not
// one.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' && !strings.Contains(s[1:len(s)-1], "'") {
		return s[1 : len(s)-1]
	}
	return ""
}

// bicepFiles parses every .bicep file under infra/.
func bicepFiles(t *testing.T) map[string]*bicepFile {
	t.Helper()
	root := repoRoot(t)
	files := map[string]*bicepFile{}
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".bicep") {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		f, err := parseBicep(root, filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		files[f.path] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files["infra/main.bicep"] == nil {
		t.Fatal("infra/main.bicep is missing")
	}
	return files
}

// moduleTarget resolves a module declaration's path to the parsed file.
func moduleTarget(t *testing.T, files map[string]*bicepFile, from *bicepFile, m *decl) *bicepFile {
	t.Helper()
	rel := filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(from.path), m.quoted())))
	target := files[rel]
	if target == nil {
		t.Fatalf("%s:%d: module %s points at %q, which is not a .bicep file of infra/", from.path, m.line, m.name, m.quoted())
	}
	return target
}

// invocations returns the module declarations of from that point at the
// file target (e.g. "infra/modules/taskhub-role.bicep").
func invocations(t *testing.T, files map[string]*bicepFile, from *bicepFile, target string) []*decl {
	t.Helper()
	var out []*decl
	for _, m := range from.all("module") {
		if moduleTarget(t, files, from, m).path == target {
			out = append(out, m)
		}
	}
	return out
}

// moduleParams returns the params object of a module declaration as a map.
func moduleParams(t *testing.T, f *bicepFile, m *decl) map[string]string {
	t.Helper()
	return objectOf(t, fmt.Sprintf("%s:%d: module %s: params", f.path, m.line, m.name), get(m.body(), "params"))
}

// objectOf returns the properties of an object literal, name to
// expression; what names it in a failure.
func objectOf(t *testing.T, what, literal string) map[string]string {
	t.Helper()
	ps, err := props(literal)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	out := map[string]string{}
	for _, p := range ps {
		out[p.key] = p.value
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// wantValues checks that each dotted path of want has its value in the
// object literal body; where names the resource.
func wantValues(t *testing.T, where, body string, want map[string]string) {
	t.Helper()
	wantEach(t, where, func(key string) string { return dig(body, strings.Split(key, ".")...) }, want)
}

// wantEach checks, in a stable order, that got gives each key of want its
// value; where says what is checked, for messages.
func wantEach(t *testing.T, where string, got func(key string) string, want map[string]string) {
	t.Helper()
	for _, key := range sortedKeys(want) {
		if v := got(key); v != want[key] {
			t.Errorf("%s %s = %q, want %q", where, key, v, want[key])
		}
	}
}

// TestBicepReader makes sure the reader itself parses what the tests rely
// on, so a green run means the checks saw the templates.
func TestBicepReader(t *testing.T) {
	src := `// comment with { and '
targetScope = 'subscription'

@minLength(1)
@allowed([
  'a'
  'b'
])
param name string = 'x' // trailing

param n int

var obj = {
  'quoted-key': '${name}-{literal}'
  nested: {
    deep: [
      {
        name: 'A'
        value: 'v=${toLower('Q')}'
      }
      { name: 'B', value: 'w' }
    ]
  }
  cmp: n == 1 ? 'one' : 'other'
}

module m './mod.bicep' = if (!empty(name)) {
  name: 'm'
  params: {
    p: obj.nested
  }
}

var list = [
  'always'
  ...(empty(name) ? [] : [{ name: 'C', value: name }, 'D'])
  ...(!empty(name) ? ['E'] : ['F'])
]
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.bicep"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := parseBicep(dir, "x.bicep")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range f.decls {
		kinds = append(kinds, d.kind+":"+d.name)
	}
	if got, want := strings.Join(kinds, " "), "targetScope: param:name param:n var:obj module:m var:list"; got != want {
		t.Fatalf("declarations = %q, want %q", got, want)
	}
	p := f.find("param", "name")
	if len(p.decorators) != 2 || p.header != "string" || p.value != "'x'" {
		t.Errorf("param name = %+v", p)
	}
	if f.find("param", "n").value != "" {
		t.Error("param n has a default")
	}
	obj := f.find("var", "obj").value
	if got := get(obj, "quoted-key"); got != "'${name}-{literal}'" {
		t.Errorf("quoted-key = %q", got)
	}
	envs, err := items(dig(obj, "nested", "deep"))
	if err != nil || len(envs) != 2 {
		t.Fatalf("deep = %q, %v", envs, err)
	}
	if unquote(get(envs[0], "name")) != "A" || get(envs[0], "value") != "'v=${toLower('Q')}'" || unquote(get(envs[1], "name")) != "B" {
		t.Errorf("deep items = %q", envs)
	}
	if get(obj, "cmp") != "n == 1 ? 'one' : 'other'" {
		t.Errorf("cmp = %q", get(obj, "cmp"))
	}
	m := f.find("module", "m")
	if m.quoted() != "./mod.bicep" || m.condition() != "(!empty(name))" || get(get(m.body(), "params"), "p") != "obj.nested" {
		t.Errorf("module m = %+v", m)
	}
	list, err := arrayEntries(f.find("var", "list").value)
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, e := range list {
		shown = append(shown, fmt.Sprintf("%s if %s == %v", e.text, e.cond, e.when))
	}
	want := []string{
		"'always' if  == false",
		"{ name: 'C', value: name } if empty(name) == false",
		"'D' if empty(name) == false",
		"'E' if !empty(name) == true",
		"'F' if !empty(name) == false",
	}
	if strings.Join(shown, "\n") != strings.Join(want, "\n") {
		t.Errorf("arrayEntries = %q, want %q", shown, want)
	}
	for name, want := range map[string]string{"": "'always' 'F'", "x": "'always' { name: 'C', value: name } 'D' 'E'"} {
		var there []string
		for _, e := range list {
			if in, ok := e.present(map[string]string{"name": name}); !ok {
				t.Errorf("entry %s: condition %s not evaluated", e.text, e.cond)
			} else if in {
				there = append(there, e.text)
			}
		}
		if got := strings.Join(there, " "); got != want {
			t.Errorf("with name = %q the array holds %s, want %s", name, got, want)
		}
	}
	for _, bad := range []string{"[\n  ...others\n]", "[\n  ...(a ? [] : 'x')\n]", "[\n  ...(a) + b\n]"} {
		if _, err := arrayEntries(bad); err == nil {
			t.Errorf("arrayEntries(%q) gave no error", bad)
		}
	}
	for _, bad := range []string{"var x = {\n", "var s = 'open\n", "var y = [ }\n"} {
		if err := os.WriteFile(filepath.Join(dir, "bad.bicep"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parseBicep(dir, "bad.bicep"); err == nil {
			t.Errorf("parseBicep(%q) gave no error", bad)
		}
	}
}
