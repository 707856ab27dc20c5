package infra_test

// The documentation is README.md and the pages under docs/, which link to
// each other and to sections of each other. A section that moves or is
// renamed breaks those links silently on GitHub; these tests find them.

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// docFiles lists the Markdown pages checked, relative to the repository
// root, in slash form.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

func TestDocsLinks(t *testing.T) {
	root := repoRoot(t)
	files := docFiles(t, root)
	if !slices.Contains(files, "docs/README.md") {
		t.Errorf("docs/ has no README.md (the index); found %v", files)
	}
	broken, checked := brokenLinks(t, root, files)
	for _, b := range broken {
		t.Error(b)
	}
	if checked < 20 {
		t.Errorf("only %d relative links checked in %v; the check saw next to nothing", checked, files)
	}
}

// TestDocsLinksCheck: the checker reports a missing file, a missing
// heading in another page and in the same page, and nothing else: not a
// link or a heading inside code, not an external link.
func TestDocsLinksCheck(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# Top\n\n## Run it, test it\n\n"+
		"See [the API](docs/api.md), [who](docs/api.md#who-decides), [a\nsection](docs/api.md#listing-approvals-the-inbox),\n"+
		"[gone](docs/gone.md), [no such heading](docs/api.md#nowhere), [here](#run-it-test-it), [not here](#fenced),\n"+
		"![a picture](docs/pic.png), [outside](https://example.com/x#y), `[code](docs/missing.md)`.\n\n"+
		"```sh\n# Fenced\n[in a fence](nowhere.md)\n```\n")
	write("docs/api.md", "# The HTTP API\n\n## Who decides\n\n### Listing approvals (the inbox)\n\n"+
		"[back](../README.md#run-it-test-it) [twice](#who-decides-1) [dup](#same-1)\n\n## Same\n\n## Same\n")
	write("docs/pic.png", "png")
	got, checked := brokenLinks(t, root, []string{"README.md", "docs/api.md"})
	want := []string{
		"README.md: docs/gone.md: no such file",
		"README.md: docs/api.md#nowhere: docs/api.md has no heading whose anchor is nowhere",
		"README.md: #fenced: README.md has no heading whose anchor is fenced",
		"docs/api.md: #who-decides-1: docs/api.md has no heading whose anchor is who-decides-1",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("brokenLinks =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if checked != 11 {
		t.Errorf("checked %d links, want 11", checked)
	}

	for heading, want := range map[string]string{
		"Run it, test it":                                     "run-it-test-it",
		"Listing approvals (the inbox)":                       "listing-approvals-the-inbox",
		"What it costs, roughly":                              "what-it-costs-roughly",
		"Sign-in with Microsoft Entra ID":                     "sign-in-with-microsoft-entra-id",
		"`cmd/dev` and its flags":                             "cmddev-and-its-flags",
		"A [linked](x.md) word":                               "a-linked-word",
		"snake_case and A -- B":                               "snake_case-and-a----b",
		"Ünïcode stays, … does not":                           "ünïcode-stays--does-not",
		"Decision→completion, p50 (ms)":                       "decisioncompletion-p50-ms",
		"The wire contract  ":                                 "the-wire-contract",
		"Several approvers, reminders, escalation, callbacks": "several-approvers-reminders-escalation-callbacks",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

var (
	fenceRE    = regexp.MustCompile("^\\s*(```|~~~)")
	headingRE  = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	codeSpanRE = regexp.MustCompile("`[^`]*`")
	linkRE     = regexp.MustCompile(`\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	schemeRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// markdownProse returns a page's text outside code fences, with inline
// code spans blanked, paragraph by paragraph, and its headings.
func markdownProse(md string) (prose string, headings []string) {
	var out []string
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		if fenceRE.MatchString(line) {
			fenced = !fenced
			out = append(out, "")
			continue
		}
		if fenced {
			out = append(out, "")
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			headings = append(headings, m[1])
		}
		out = append(out, line)
	}
	// A code span may run over lines, but never past a paragraph.
	paras := strings.Split(strings.Join(out, "\n"), "\n\n")
	for i, p := range paras {
		paras[i] = codeSpanRE.ReplaceAllString(p, "``")
	}
	return strings.Join(paras, "\n\n"), headings
}

// githubAnchor is the id GitHub gives a heading: its text as rendered
// (link targets dropped), lower case, every character that is not a
// letter, a digit, a space, '-' or '_' removed, and each space made '-'.
func githubAnchor(heading string) string {
	text := inlineLink.ReplaceAllString(strings.TrimSpace(heading), "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors lists the ids of a page's headings, numbering repeats as GitHub
// does (name, name-1, name-2, ...).
func anchors(headings []string) map[string]bool {
	ids := map[string]bool{}
	count := map[string]int{}
	for _, h := range headings {
		id := githubAnchor(h)
		if n := count[id]; n > 0 {
			count[id]++
			id = fmt.Sprintf("%s-%d", id, n)
		} else {
			count[id] = 1
		}
		ids[id] = true
	}
	return ids
}

// brokenLinks checks every relative link of the given pages (relative to
// root, slash form): its file must exist, and its #anchor, if any, must be
// a heading of the Markdown page it points to. It returns one line per
// broken link and how many links it checked.
func brokenLinks(t *testing.T, root string, files []string) (broken []string, checked int) {
	t.Helper()
	type page struct {
		prose   string
		anchors map[string]bool
	}
	pages := map[string]*page{}
	load := func(rel string) *page {
		if p, ok := pages[rel]; ok {
			return p
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			pages[rel] = nil
			return nil
		}
		prose, headings := markdownProse(string(data))
		p := &page{prose, anchors(headings)}
		pages[rel] = p
		return p
	}
	for _, rel := range files {
		p := load(rel)
		if p == nil {
			t.Fatalf("cannot read %s", rel)
		}
		for _, m := range linkRE.FindAllStringSubmatch(p.prose, -1) {
			target := m[1]
			if target == "" || schemeRE.MatchString(target) || strings.HasPrefix(target, "//") {
				continue
			}
			checked++
			file, anchor, hasAnchor := strings.Cut(target, "#")
			dest := rel
			if file != "" {
				unescaped, err := url.PathUnescape(file)
				if err != nil {
					broken = append(broken, fmt.Sprintf("%s: %s: %v", rel, target, err))
					continue
				}
				if strings.HasPrefix(unescaped, "/") {
					dest = path.Clean(strings.TrimPrefix(unescaped, "/"))
				} else {
					dest = path.Join(path.Dir(rel), unescaped)
				}
				if dest == ".." || strings.HasPrefix(dest, "../") {
					broken = append(broken, fmt.Sprintf("%s: %s: outside the repository", rel, target))
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
					broken = append(broken, fmt.Sprintf("%s: %s: no such file", rel, target))
					continue
				}
			}
			if !hasAnchor {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				broken = append(broken, fmt.Sprintf("%s: %s: an anchor into %s, which is not a Markdown page", rel, target, dest))
				continue
			}
			d := load(dest)
			if d == nil || !d.anchors[anchor] {
				broken = append(broken, fmt.Sprintf("%s: %s: %s has no heading whose anchor is %s", rel, target, dest, anchor))
			}
		}
	}
	return broken, checked
}
