// Package image keeps the image build honest without a container engine:
// the Dockerfile is the source of truth for how the webhook binary is
// built, and the Makefile's copy of its flags (IMAGE_* variables, used by
// make image-check) must say the same. The tests parse both files; make
// image-check then builds with the Makefile's flags and checks the result.
package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/version"
)

// modulePath is the main module; its packages must be in the image's
// build context.
const modulePath = "github.com/ipamguard/ipamguard"

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	cmd  string // upper case: FROM, ARG, RUN, ...
	args string
}

// parseDockerfile splits a Dockerfile into stages of instructions. Comment
// lines are dropped, also inside continued instructions, as Docker does.
func parseDockerfile(src string) [][]instruction {
	var stages [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for l := range strings.Lines(src) {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(t, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(t)
		flush()
	}
	flush()
	return stages
}

// shellWords splits s as a POSIX shell would for the simple commands a
// Dockerfile RUN holds: whitespace separates words, quotes group and are
// removed. Variables are left as written.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
				continue
			}
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// goBuild is a `go build` command line, split into what the checks compare.
type goBuild struct {
	env     map[string]string
	flags   []string // build flags other than -ldflags and -o, as written
	ldflags []string
	pkg     string
}

// parseGoBuild reads the `go build` of words (env assignments first).
func parseGoBuild(words []string) (*goBuild, error) {
	b := &goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		k, v, _ := strings.Cut(words[i], "=")
		b.env[k] = v
	}
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		return nil, fmt.Errorf("not a go build command: %q", strings.Join(words, " "))
	}
	for i += 2; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-o":
			i++
		case strings.HasPrefix(w, "-o="):
		case w == "-ldflags":
			if i+1 < len(words) {
				i++
				b.ldflags = strings.Fields(words[i])
			}
		case strings.HasPrefix(w, "-ldflags="):
			b.ldflags = strings.Fields(strings.TrimPrefix(w, "-ldflags="))
		case strings.HasPrefix(w, "-"):
			b.flags = append(b.flags, w)
		default:
			if b.pkg != "" {
				return nil, fmt.Errorf("two packages, %s and %s: the image builds one binary", b.pkg, w)
			}
			b.pkg = w
		}
	}
	return b, nil
}

// dockerBuild finds the builder stage's go build.
func dockerBuild(stages [][]instruction) (*goBuild, []instruction, error) {
	for _, st := range stages {
		for _, in := range st {
			if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
				continue
			}
			words, err := shellWords(in.args)
			if err != nil {
				return nil, nil, err
			}
			// RUN's own options (--mount=...) come first.
			for len(words) > 0 && strings.HasPrefix(words[0], "--") {
				words = words[1:]
			}
			b, err := parseGoBuild(words)
			return b, st, err
		}
	}
	return nil, nil, fmt.Errorf("no RUN with go build")
}

var (
	makeAssign = regexp.MustCompile(`^([A-Za-z_][A-Za-z_0-9]*)\s*(:=|\?=|=)\s*(.*)$`)
	makeRef    = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z_0-9]*)\)`)
)

// makeVars reads the simple variable assignments of a Makefile (the first
// of each name; conditional blocks are read as if taken).
func makeVars(src string) map[string]string {
	vars := map[string]string{}
	for l := range strings.Lines(src) {
		if strings.HasPrefix(l, "\t") {
			continue
		}
		if m := makeAssign.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			if _, seen := vars[m[1]]; !seen {
				vars[m[1]] = m[3]
			}
		}
	}
	return vars
}

// expand resolves $(NAME) references in s with vars; the names in asArg
// become the Dockerfile's ${NAME} build arguments.
func expand(s string, vars map[string]string, asArg []string) (string, error) {
	for range 10 {
		if !makeRef.MatchString(s) {
			return s, nil
		}
		var missing string
		s = makeRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := makeRef.FindStringSubmatch(ref)[1]
			if slices.Contains(asArg, name) {
				return "${" + name + "}"
			}
			v, ok := vars[name]
			if !ok {
				missing = name
			}
			return v
		})
		if missing != "" {
			return "", fmt.Errorf("$(%s) is not assigned in the Makefile", missing)
		}
	}
	return "", fmt.Errorf("%q: references nest too deep", s)
}

// buildArgs are the Dockerfile build arguments the Makefile passes with
// --build-arg and stamps with -X.
var buildArgs = []string{"VERSION", "COMMIT"}

// goVersion is the Go release go.mod asks for: its toolchain line, else
// its go line.
func goVersion(gomod string) string {
	var goLine string
	for l := range strings.Lines(gomod) {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "toolchain" {
			return strings.TrimPrefix(f[1], "go")
		}
		if len(f) == 2 && f[0] == "go" {
			goLine = f[1]
		}
	}
	return goLine
}

// drift lists every way the Dockerfile, the Makefile and go.mod disagree
// about the image build, or the Dockerfile falls short of what the image
// promises (pinned builder, static, stamped, distroless nonroot).
func drift(dockerfile, makefile, gomod string) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	stages := parseDockerfile(dockerfile)
	db, builder, err := dockerBuild(stages)
	if err != nil {
		return []string{"Dockerfile: " + err.Error()}
	}
	vars := makeVars(makefile)
	get := func(name string) string {
		v, ok := vars[name]
		if !ok {
			add("Makefile: %s is not assigned", name)
			return ""
		}
		v, err := expand(v, vars, buildArgs)
		if err != nil {
			add("Makefile: %s: %v", name, err)
		}
		return v
	}

	if got, want := db.env["CGO_ENABLED"], get("IMAGE_CGO_ENABLED"); got != want || want != "0" {
		add("CGO_ENABLED: Dockerfile %q, Makefile IMAGE_CGO_ENABLED %q; both must be 0 (a static binary for distroless static)", got, want)
	}
	if db.env["GOOS"] == "" {
		add("Dockerfile: go build sets no GOOS")
	}
	mkFlags := strings.Fields(get("IMAGE_GOFLAGS"))
	if !slices.Equal(sorted(db.flags), sorted(mkFlags)) {
		add("build flags: Dockerfile %q, Makefile IMAGE_GOFLAGS %q", db.flags, mkFlags)
	}
	if !slices.Contains(db.flags, "-trimpath") {
		add("Dockerfile: go build without -trimpath")
	}
	mkLd := strings.Fields(get("IMAGE_LDFLAGS"))
	if !slices.Equal(db.ldflags, mkLd) {
		add("-ldflags: Dockerfile %q, Makefile IMAGE_LDFLAGS %q", db.ldflags, mkLd)
	}
	for _, a := range buildArgs {
		x := version.Package + "." + titleOf(a) + "=${" + a + "}"
		if !slices.Contains(db.ldflags, x) {
			add("Dockerfile: -ldflags do not stamp -X %s", x)
		}
		if !slices.ContainsFunc(builder, func(in instruction) bool {
			return in.cmd == "ARG" && (in.args == a || strings.HasPrefix(in.args, a+"="))
		}) {
			add("Dockerfile: the builder stage declares no ARG %s, so ${%s} is empty", a, a)
		}
		if !strings.Contains(makefile, "--build-arg "+a+"=") {
			add("Makefile: docker-build passes no --build-arg %s", a)
		}
	}
	if got, want := db.pkg, get("IMAGE_PKG"); got != want {
		add("package: Dockerfile %q, Makefile IMAGE_PKG %q", got, want)
	}
	for _, ref := range []string{"CGO_ENABLED=$(IMAGE_CGO_ENABLED)", "$(IMAGE_GOFLAGS)", "-ldflags '$(IMAGE_LDFLAGS)'", "$(IMAGE_PKG)"} {
		if !strings.Contains(recipe(makefile, "image-check"), ref) {
			add("Makefile: the image-check recipe does not build with %s", ref)
		}
	}

	// The builder: the exact Go release of go.mod, not a floating tag.
	from := strings.Fields(builder[0].args)
	image := ""
	for _, f := range from {
		if !strings.HasPrefix(f, "--") {
			image = f
			break
		}
	}
	goVer := goVersion(gomod)
	if tag, ok := strings.CutPrefix(image, "golang:"); !ok || (tag != goVer && !strings.HasPrefix(tag, goVer+"-")) {
		add("Dockerfile: builder image %q, want golang:%s (go.mod's Go release, optionally -variant)", image, goVer)
	}

	// The final stage: distroless static, nonroot, the binary from the builder.
	final := stages[len(stages)-1]
	if img := final[0].args; !strings.HasPrefix(img, "gcr.io/distroless/static") || !strings.HasSuffix(img, ":nonroot") {
		add("Dockerfile: final stage FROM %q, want gcr.io/distroless/static...:nonroot", img)
	}
	if !slices.ContainsFunc(final, func(in instruction) bool { return in.cmd == "USER" && in.args == "65532:65532" }) {
		add("Dockerfile: the final stage does not run as USER 65532:65532 (numeric, so runAsNonRoot can verify it)")
	}
	if !slices.ContainsFunc(final, func(in instruction) bool {
		return in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=builder ")
	}) {
		add("Dockerfile: the final stage copies nothing from the builder")
	}
	return problems
}

// recipe returns the recipe lines of a Makefile target.
func recipe(makefile, target string) string {
	var b strings.Builder
	in := false
	for l := range strings.Lines(makefile) {
		switch {
		case strings.HasPrefix(l, target+":"):
			in = true
		case in && strings.HasPrefix(l, "\t"):
			b.WriteString(l)
		case in:
			return b.String()
		}
	}
	return b.String()
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// titleOf turns VERSION into Version, the variable's name in
// internal/version.
func titleOf(s string) string {
	return s[:1] + strings.ToLower(s[1:])
}

func readRepo(t *testing.T, rel string) string {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfileAndMakefileAgree is the drift check make test runs.
func TestDockerfileAndMakefileAgree(t *testing.T) {
	t.Parallel()
	for _, p := range drift(readRepo(t, "Dockerfile"), readRepo(t, "Makefile"), readRepo(t, "go.mod")) {
		t.Error(p)
	}
}

// TestDriftIsCaught: each edit of one file alone is reported.
func TestDriftIsCaught(t *testing.T) {
	t.Parallel()
	dockerfile, makefile, gomod := readRepo(t, "Dockerfile"), readRepo(t, "Makefile"), readRepo(t, "go.mod")
	replace := func(t *testing.T, s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("%q not found; update the test", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	tests := []struct {
		name string
		edit func(t *testing.T) (dockerfile, makefile, gomod string)
		want string
	}{
		{"Dockerfile drops -trimpath", func(t *testing.T) (string, string, string) {
			return replace(t, dockerfile, "go build -trimpath", "go build"), makefile, gomod
		}, "build flags"},
		{"Makefile adds build tags", func(t *testing.T) (string, string, string) {
			return dockerfile, replace(t, makefile, "IMAGE_GOFLAGS     := -trimpath", "IMAGE_GOFLAGS     := -tags=netgo -trimpath"), gomod
		}, "build flags"},
		{"Dockerfile enables cgo", func(t *testing.T) (string, string, string) {
			return replace(t, dockerfile, "CGO_ENABLED=0", "CGO_ENABLED=1"), makefile, gomod
		}, "CGO_ENABLED"},
		{"Makefile stops stripping", func(t *testing.T) (string, string, string) {
			return dockerfile, replace(t, makefile, "IMAGE_LDFLAGS     := -s -w", "IMAGE_LDFLAGS     :="), gomod
		}, "-ldflags"},
		{"Dockerfile stamps no commit", func(t *testing.T) (string, string, string) {
			return replace(t, dockerfile, " -X "+version.Package+".Commit=${COMMIT}", ""), makefile, gomod
		}, "-ldflags"},
		{"Dockerfile forgets ARG COMMIT", func(t *testing.T) (string, string, string) {
			return replace(t, dockerfile, "ARG COMMIT=unknown\n", ""), makefile, gomod
		}, "ARG COMMIT"},
		{"go.mod moves to a new Go", func(t *testing.T) (string, string, string) {
			return dockerfile, makefile, gomod + "\ntoolchain go1.99.1\n"
		}, "want golang:1.99.1"},
		{"floating builder tag", func(t *testing.T) (string, string, string) {
			return regexp.MustCompile(`golang:[0-9.]+-`).ReplaceAllString(dockerfile, "golang:1.26-"), makefile, gomod
		}, "builder image"},
		{"final stage runs as root", func(t *testing.T) (string, string, string) {
			return replace(t, dockerfile, "USER 65532:65532", "USER 0"), makefile, gomod
		}, "USER 65532"},
		{"image-check builds differently", func(t *testing.T) (string, string, string) {
			return dockerfile, replace(t, makefile, "$(GO) build $(IMAGE_GOFLAGS)", "$(GO) build"), gomod
		}, "image-check recipe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			problems := drift(tc.edit(t))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("drift found %q, want a problem mentioning %q", problems, tc.want)
			}
		})
	}
}

// TestBuildContextHoldsTheBinary: every package of this module that the
// webhook is built from is under a directory the Dockerfile copies, so
// the image build does not fail on a missing package after a refactor.
func TestBuildContextHoldsTheBinary(t *testing.T) {
	t.Parallel()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(readRepo(t, "Dockerfile"))
	db, builder, err := dockerBuild(stages)
	if err != nil {
		t.Fatal(err)
	}
	var copied []string
	for _, in := range builder {
		if in.cmd != "COPY" || strings.HasPrefix(in.args, "--from") {
			continue
		}
		f := strings.Fields(in.args)
		for _, src := range f[:len(f)-1] {
			copied = append(copied, strings.TrimSuffix(src, "/"))
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", db.pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+db.env["CGO_ENABLED"], "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", db.pkg, err)
	}
	for p := range strings.Lines(string(out)) {
		p = strings.TrimSpace(p)
		rel, ok := strings.CutPrefix(p, modulePath+"/")
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rel, "/")
		if !slices.Contains(copied, top) {
			t.Errorf("%s is built into the webhook but the Dockerfile copies only %v", p, copied)
		}
	}
}
