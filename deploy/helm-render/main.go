// helm-render renders a Helm chart's templates the way Helm's engine does: Go text/template with
// the sprig functions and Helm's own include, tpl, toYaml, required and .Files, values.yaml merged
// with override files. It exists so the chart is rendered and checked (test/e2e
// helm-render.test.ts) on machines without a helm binary or a Kubernetes cluster; it is not
// Helm (no hooks, no subcharts, no schema, no lookup against a cluster).
//
// Build (Debian: golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o helm-render ./deploy/helm-render
//
// Usage: helm-render [--name RELEASE] [--namespace NS] CHART_DIR [VALUES.yaml ...] > manifests.yaml
// (release "rel" in namespace "ns" unless named, as `helm template RELEASE --namespace NS`).
// Each template's output follows a `# Source: <chart>/templates/<file>` line; NOTES.txt's text
// comes first, after `# NOTES`. A template that fails or renders invalid YAML exits 1 naming it.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

// Files is Helm's .Files: the chart's files by path relative to the chart directory.
type Files map[string][]byte

func (f Files) Glob(pattern string) Files {
	out := Files{}
	for k, v := range f {
		if ok, _ := filepath.Match(pattern, k); ok {
			out[k] = v
		}
	}
	return out
}

func (f Files) Get(name string) string { return string(f[name]) }

// AsConfig is the files as a ConfigMap's data: base name → content.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for k, v := range f {
		m[filepath.Base(k)] = string(v)
	}
	return toYaml(m)
}

// loadFiles reads the chart's files, following symbolic links to directories one level deep
// (the chart's dashboards/ links to the repository's grafana/dashboards/).
func loadFiles(chart string) Files {
	files := Files{}
	_ = filepath.Walk(chart, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(chart, path)
		if b, err := os.ReadFile(path); err == nil {
			files[rel] = b
		}
		return nil
	})
	entries, _ := os.ReadDir(chart)
	for _, e := range entries {
		if e.Type()&os.ModeSymlink == 0 {
			continue
		}
		sub, _ := filepath.Glob(filepath.Join(chart, e.Name(), "*"))
		for _, p := range sub {
			if b, err := os.ReadFile(p); err == nil {
				files[filepath.Join(e.Name(), filepath.Base(p))] = b
			}
		}
	}
	return files
}

func toYaml(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// merge overlays src on dst, maps key by key (Helm's values coalescing for plain maps).
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func readYaml(path string) map[string]interface{} {
	out := map[string]interface{}{}
	b, err := os.ReadFile(path)
	must(err)
	must(yaml.Unmarshal(b, &out))
	return out
}

func main() {
	release, namespace := "rel", "ns"
	args := os.Args[1:]
	for len(args) >= 2 && (args[0] == "--name" || args[0] == "--namespace") {
		if args[0] == "--name" {
			release = args[1]
		} else {
			namespace = args[1]
		}
		args = args[2:]
	}
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [--name RELEASE] [--namespace NS] CHART_DIR [VALUES.yaml ...]")
		os.Exit(2)
	}
	chart := args[0]
	values := readYaml(filepath.Join(chart, "values.yaml"))
	for _, f := range args[1:] {
		values = merge(values, readYaml(f))
	}
	meta := readYaml(filepath.Join(chart, "Chart.yaml"))
	chartName := fmt.Sprint(meta["name"])

	t := template.New(chartName)
	funcs := sprig.TxtFuncMap()
	// As in Helm: templates do not read the renderer's environment.
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYaml
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		if _, err = clone.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = clone.ExecuteTemplate(&buf, "tpl", data)
		return buf.String(), err
	}
	// No cluster to look anything up in: an empty answer, as `helm template` gives.
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	t = t.Funcs(funcs).Option("missingkey=zero")

	paths, _ := filepath.Glob(filepath.Join(chart, "templates", "*"))
	sort.Strings(paths)
	var names []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		must(err)
		name := chartName + "/templates/" + filepath.Base(p)
		_, err = t.New(name).Parse(string(b))
		must(err)
		if !strings.HasPrefix(filepath.Base(p), "_") {
			names = append(names, name)
		}
	}

	files := loadFiles(chart)
	failed := false
	for _, name := range names {
		data := map[string]interface{}{
			"Values": values,
			"Files":  files,
			"Chart": map[string]interface{}{
				"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"],
			},
			"Release": map[string]interface{}{
				"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true,
			},
			"Template": map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			failed = true
			continue
		}
		// Helm prints nothing where a missing key would print "<no value>".
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.HasSuffix(name, ".txt") {
			fmt.Printf("# NOTES\n%s\n", out)
			continue
		}
		for _, doc := range strings.Split(out, "\n---") {
			var v interface{}
			if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
				fmt.Fprintf(os.Stderr, "%s: invalid YAML: %v\n%s\n", name, err, doc)
				failed = true
			}
		}
		fmt.Printf("---\n# Source: %s\n%s\n", name, out)
	}
	if failed {
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
