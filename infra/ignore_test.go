package infra_test

// .funcignore and .dockerignore decide what leaves this machine. The tests
// apply them with the rules of the tools that read them and compare the
// result with what must be there.

import (
	"encoding/json"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func ignoreLines(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(readFile(t, filepath.Join(repoRoot(t), name)), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// repoFiles lists the repository's files (slash-separated, relative),
// without .git.
func repoFiles(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// --- gitignore rules (azd's ignore files, VS Code, git itself) -------------

type gitPattern struct {
	negate, dirOnly, anchored bool
	re                        *regexp.Regexp
}

func globRE(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

func parseGitignore(lines []string) []gitPattern {
	var out []gitPattern
	for _, l := range lines {
		p := gitPattern{}
		if strings.HasPrefix(l, "!") {
			p.negate, l = true, l[1:]
		}
		if strings.HasSuffix(l, "/") {
			p.dirOnly, l = true, strings.TrimSuffix(l, "/")
		}
		if strings.Contains(l, "/") {
			p.anchored, l = true, strings.TrimPrefix(l, "/")
		}
		p.re = regexp.MustCompile("^" + globRE(l) + "$")
		out = append(out, p)
	}
	return out
}

// gitIgnored applies git's rules: the last matching pattern decides, and
// nothing inside an ignored folder can be brought back.
func gitIgnored(patterns []gitPattern, file string) bool {
	parts := strings.Split(file, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		isDir := i < len(parts)-1
		ignored := false
		for _, pat := range patterns {
			if pat.dirOnly && !isDir {
				continue
			}
			subject := p
			if !pat.anchored {
				subject = parts[i]
			}
			if pat.re.MatchString(subject) {
				ignored = !pat.negate
			}
		}
		if ignored {
			return true
		}
	}
	return false
}

// --- Core Tools' reading of .funcignore ------------------------------------
//
// `func azure functionapp publish` reads .funcignore with a port of the
// gitignore-parser package: a path is kept when any "!" pattern matches its
// beginning, or when no other pattern does; order does not matter.

func coreToolsRE(patterns []string) *regexp.Regexp {
	if len(patterns) == 0 {
		return regexp.MustCompile(`$^`)
	}
	var alts []string
	for _, p := range patterns {
		p = regexp.QuoteMeta(p)
		p = strings.ReplaceAll(p, `\*\*`, `(.+)`)
		p = strings.ReplaceAll(p, `\*`, `([^/]+)`)
		alts = append(alts, "("+p+")")
	}
	return regexp.MustCompile(`^(` + strings.Join(alts, "|") + `)\b`)
}

func coreToolsKept(lines []string, file string) bool {
	var pos, neg []string
	for _, l := range lines {
		negate := strings.HasPrefix(l, "!")
		l = strings.TrimPrefix(strings.TrimPrefix(l, "!"), "/")
		if negate {
			neg = append(neg, l)
		} else {
			pos = append(pos, l)
		}
	}
	return coreToolsRE(neg).MatchString(file) || !coreToolsRE(pos).MatchString(file)
}

func TestFuncignore(t *testing.T) {
	root := repoRoot(t)
	lines := ignoreLines(t, ".funcignore")
	git := parseGitignore(lines)

	functions := functionFolders(t, root)
	want := []string{"handler", "host.json"}
	for _, fn := range functions {
		want = append(want, fn+"/function.json")
	}
	slices.Sort(want)

	// Every file of the repository, plus the handler binary that
	// `go build -o handler ./cmd/handler` leaves at the root, plus things a
	// working copy gathers.
	files := append(repoFiles(t), "handler", "handler.exe", "dist/api.zip", "dist/api/handler",
		".azure/dev/.env", "local.settings.json", ".data/scheduler.db", "StartApproval/notes.md")
	slices.Sort(files)
	files = slices.Compact(files)

	for reader, kept := range map[string]func(string) bool{
		"git rules":  func(f string) bool { return !gitIgnored(git, f) },
		"Core Tools": func(f string) bool { return coreToolsKept(lines, f) },
	} {
		var got []string
		for _, f := range files {
			if kept(f) {
				got = append(got, f)
			}
		}
		// Core Tools matches prefixes up to a word boundary, so a "!" line
		// also keeps what is inside a function folder and "handler.exe"
		// next to "handler". Function folders hold only function.json and
		// handler.exe exists only after a Windows build, so these are
		// tolerated for it, and for it alone.
		if reader == "Core Tools" {
			got = slices.DeleteFunc(got, func(f string) bool {
				dir, _, _ := strings.Cut(f, "/")
				return f == "handler.exe" || slices.Contains(functions, dir) && !strings.HasSuffix(f, "/function.json")
			})
		}
		if !slices.Equal(got, want) {
			t.Errorf(".funcignore read by %s keeps %v, want exactly %v", reader, got, want)
		}
	}
}

func TestIgnoreReaders(t *testing.T) {
	git := parseGitignore([]string{"*", "!/a", "/a/", "!/*/", "!/*/f.json"})
	for file, ignored := range map[string]bool{"a": false, "a/x": true, "b/f.json": false, "b/g": true, "c": true, "b/c/f.json": true} {
		if gitIgnored(git, file) != ignored {
			t.Errorf("git rules: %s ignored = %v, want %v", file, !ignored, ignored)
		}
	}
	lines := []string{"*", "!a", "!*/f.json"}
	for file, kept := range map[string]bool{"a": true, "a/x": true, "b/f.json": true, "b/g": false, "ab": false} {
		if coreToolsKept(lines, file) != kept {
			t.Errorf("Core Tools: %s kept = %v, want %v", file, !kept, kept)
		}
	}
	docker := []string{"*", "!go.mod", "!**/*.go", "**/*_test.go"}
	for file, ignored := range map[string]bool{"go.mod": false, "main.go": false, "a/b/c.go": false, "a/b/c_test.go": true, "a/b/c.sql": true, "x": true} {
		if dockerIgnored(docker, file) != ignored {
			t.Errorf("docker rules: %s ignored = %v, want %v", file, !ignored, ignored)
		}
	}
}

// --- .dockerignore (Docker, BuildKit and azd's remote build) ---------------
//
// Patterns match whole paths, and a pattern that matches a parent folder
// matches what is inside; the last matching pattern decides, and "!"
// patterns can bring files back from an ignored folder.

func dockerIgnored(patterns []string, file string) bool {
	matched := false
	parts := strings.Split(file, "/")
	for _, p := range patterns {
		exclusion := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, "!")), "/")
		if exclusion != matched {
			continue
		}
		re := regexp.MustCompile("^" + globRE(p) + "$")
		match := re.MatchString(file)
		for i := 1; !match && i < len(parts); i++ {
			match = re.MatchString(strings.Join(parts[:i], "/"))
		}
		if match {
			matched = !exclusion
		}
	}
	return matched
}

func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	patterns := ignoreLines(t, ".dockerignore")

	// Everything `go build ./cmd/worker` reads from this module.
	modPath := strings.TrimSpace(string(mustGo(t, root, "list", "-m")))
	out := mustGo(t, root, "list", "-deps", "-json=Dir,Module,GoFiles,CgoFiles,SFiles,CFiles,HFiles,SysoFiles,EmbedFiles", "./cmd/worker")
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var pkg struct {
			Dir                                                              string
			Module                                                           *struct{ Path string }
			GoFiles, CgoFiles, SFiles, CFiles, HFiles, SysoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || pkg.Module.Path != modPath {
			continue
		}
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, list := range [][]string{pkg.GoFiles, pkg.CgoFiles, pkg.SFiles, pkg.CFiles, pkg.HFiles, pkg.SysoFiles, pkg.EmbedFiles} {
			for _, f := range list {
				needed = append(needed, path.Join(filepath.ToSlash(rel), f))
			}
		}
	}
	if len(needed) < 4 {
		t.Fatalf("go list found only %v for ./cmd/worker", needed)
	}
	for _, f := range needed {
		if dockerIgnored(patterns, f) {
			t.Errorf(".dockerignore leaves out %s, which go build ./cmd/worker needs", f)
		}
	}
	// And it keeps out what must not be uploaded.
	for _, f := range []string{".azure/dev/.env", "dist/api.zip", "handler", "local.settings.json",
		".data/scheduler.db", "README.md", "docs/deploy.md", "docs/approval-page.png", "infra/main.bicep", "worker/worker_test.go"} {
		if !dockerIgnored(patterns, f) {
			t.Errorf(".dockerignore sends %s to the image build", f)
		}
	}
}

func mustGo(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	out, err := goCmd(t, dir, nil, args...)
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return out
}
