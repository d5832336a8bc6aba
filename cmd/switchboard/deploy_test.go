package main

// The deployment files (Dockerfile, deploy/docker-compose.yml and its
// nginx and Prometheus configuration, deploy/k8s) are checked here against
// the program, since neither docker nor kubectl runs in CI: every variable
// they set is a setting, each node's environment passes config.Load as it
// would at start-up, the cluster's nodes agree with each other, and the
// probes and health checks ask routes the server answers.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"switchboard/config"

	"go.yaml.in/yaml/v4"
)

// deployEnv stands in for what an operator provides (the secret key, the
// PostgreSQL URL in the Kubernetes Secret, the pod's IP): valid values, so
// that config.Load judges the files' own settings.
var deployEnv = map[string]string{
	"SWITCHBOARD_SECRET_KEY": strings.Repeat("ab", 32),
	"DATABASE_URL":           "postgres://switchboard:pw@postgres:5432/switchboard",
	"POD_IP":                 "10.1.2.3",
}

// knownSetting reports whether name is a setting (or a setting's _FILE
// twin).
func knownSetting(name string) bool {
	names := config.Names()
	return slices.Contains(names, name) || slices.Contains(names, strings.TrimSuffix(name, "_FILE"))
}

// loadEnv validates a node's environment as start-up would.
func loadEnv(env map[string]string) (*config.Config, error) {
	return config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// served starts the server in-process and reports which of paths answer
// 200 to GET (the probes and health checks need 200).
func served(t *testing.T, paths []string) map[string]bool {
	t.Helper()
	m, _, err := runMain(t, map[string]string{"METRICS_ADDR": "off"})
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]bool{}
	for _, p := range paths {
		resp, err := http.Get("http://" + m.Addr + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ok[p] = resp.StatusCode == http.StatusOK
	}
	return ok
}

func readDeploy(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// composeVar is docker compose's interpolation: ${NAME}, ${NAME:-default}
// and ${NAME:?error}.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// badDollar is a $ compose cannot interpolate: not $$, ${ or $NAME.
var badDollar = regexp.MustCompile(`\$[^${A-Za-z_]|\$$`)

// interpolate resolves compose's variables from deployEnv, as compose would
// with that environment.
func interpolate(s string) (string, error) {
	if m := badDollar.FindString(strings.ReplaceAll(s, "$$", "")); m != "" {
		return "", fmt.Errorf("%q: compose reads %q as an invalid interpolation (write $$ for a $)", s, m)
	}
	var err error
	out := composeVar.ReplaceAllStringFunc(s, func(m string) string {
		p := composeVar.FindStringSubmatch(m)
		if v, ok := deployEnv[p[1]]; ok {
			return v
		}
		switch p[2] {
		case ":-":
			return p[3]
		case ":?":
			err = fmt.Errorf("compose refuses to start without %s: %s", p[1], p[3])
		}
		return ""
	})
	return out, err
}

// composeNode is a switchboard service of the compose file.
type composeNode struct {
	name, hostname string
	env            map[string]string
}

func composeNodes(t *testing.T) []composeNode {
	t.Helper()
	var f struct {
		Services map[string]struct {
			Image       string
			Hostname    string
			Build       any
			Environment any
		}
	}
	if err := yaml.Unmarshal(readDeploy(t, "deploy/docker-compose.yml"), &f); err != nil {
		t.Fatalf("deploy/docker-compose.yml: %v", err)
	}
	var nodes []composeNode
	for name, s := range f.Services {
		if !strings.HasPrefix(s.Image, "switchboard") {
			continue // PostgreSQL, nginx, Prometheus, Grafana: their own settings
		}
		env := map[string]string{}
		switch e := s.Environment.(type) {
		case map[string]any:
			for k, v := range e {
				env[k] = fmt.Sprint(v)
			}
		case []any:
			for _, kv := range e {
				k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
				env[k] = v
			}
		}
		for k, v := range env {
			r, err := interpolate(v)
			if err != nil {
				t.Fatalf("service %s, %s: %v", name, k, err)
			}
			env[k] = r
		}
		nodes = append(nodes, composeNode{name: name, hostname: cmpOr(s.Hostname, name), env: env})
	}
	slices.SortFunc(nodes, func(a, b composeNode) int { return strings.Compare(a.name, b.name) })
	return nodes
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestDockerComposeCluster(t *testing.T) {
	nodes := composeNodes(t)
	if len(nodes) != 3 {
		t.Fatalf("deploy/docker-compose.yml has %d switchboard services, want 3", len(nodes))
	}
	var publicURL string
	var memberships, clusterAddrs, httpAddrs, metricsAddrs []string
	for _, n := range nodes {
		for k := range n.env {
			if !knownSetting(k) {
				t.Errorf("service %s sets %s, which is not a setting (see config.Names)", n.name, k)
			}
		}
		c, err := loadEnv(n.env)
		if err != nil {
			t.Errorf("service %s: its environment does not start: %v", n.name, err)
			continue
		}
		if c.ClusterProvider != "automanaged" || c.PostgresURL == "" {
			t.Errorf("service %s: provider %q on PostgreSQL %v, want automanaged on PostgreSQL", n.name, c.ClusterProvider, c.PostgresURL != "")
		}
		if publicURL == "" {
			publicURL = c.PublicBaseURL
		}
		if c.PublicBaseURL == "" || c.PublicBaseURL != publicURL {
			t.Errorf("service %s: PUBLIC_BASE_URL %q, want one URL, the same on every node (%q)", n.name, c.PublicBaseURL, publicURL)
		}
		if !slices.Contains(c.ClusterPeers, c.ClusterMembershipAddr) {
			t.Errorf("service %s: CLUSTER_MEMBERSHIP_ADDR %s is not in CLUSTER_PEERS %v", n.name, c.ClusterMembershipAddr, c.ClusterPeers)
		}
		if !slices.Equal(c.ClusterPeers, must(loadEnv(nodes[0].env)).ClusterPeers) {
			t.Errorf("service %s: CLUSTER_PEERS %v differs from %s's", n.name, c.ClusterPeers, nodes[0].name)
		}
		for _, a := range []string{c.ClusterAddr, c.ClusterMembershipAddr} {
			if host, _, _ := net.SplitHostPort(a); host != n.hostname {
				t.Errorf("service %s: %s is not on its own host name %s", n.name, a, n.hostname)
			}
		}
		memberships = append(memberships, c.ClusterMembershipAddr)
		clusterAddrs = append(clusterAddrs, c.ClusterAddr)
		_, port, _ := net.SplitHostPort(c.Addr)
		httpAddrs = append(httpAddrs, net.JoinHostPort(n.hostname, port))
		_, port, _ = net.SplitHostPort(c.MetricsAddr)
		metricsAddrs = append(metricsAddrs, net.JoinHostPort(n.hostname, port))
	}
	if t.Failed() {
		return
	}
	peers := must(loadEnv(nodes[0].env)).ClusterPeers
	if !sameSet(peers, memberships) {
		t.Errorf("CLUSTER_PEERS %v, but the nodes' membership endpoints are %v", peers, memberships)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(clusterAddrs)))) != len(nodes) {
		t.Errorf("CLUSTER_ADDR repeats: %v", clusterAddrs)
	}

	// The balancer sends to every node's HTTP port.
	upstream := regexp.MustCompile(`(?m)^\s*server\s+([^\s;{]+)[^;{]*;`).FindAllStringSubmatch(string(readDeploy(t, "deploy/nginx.conf")), -1)
	var servers []string
	for _, m := range upstream {
		servers = append(servers, m[1])
	}
	if !sameSet(servers, httpAddrs) {
		t.Errorf("deploy/nginx.conf balances over %v, want the nodes' SWITCHBOARD_ADDR %v", servers, httpAddrs)
	}

	// Prometheus scrapes every node's METRICS_ADDR.
	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "deploy/prometheus.yml"), &prom); err != nil {
		t.Fatalf("deploy/prometheus.yml: %v", err)
	}
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if !sameSet(targets, metricsAddrs) {
		t.Errorf("deploy/prometheus.yml scrapes %v, want the nodes' METRICS_ADDR %v", targets, metricsAddrs)
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// k8sObject is the part of a Kubernetes object the checks read.
type k8sObject struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
		Template struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
				Containers         []k8sContainer
			}
		}
		Rules []struct {
			Host string
		}
	}
	// Service's selector is a plain map.
	ServiceSelector map[string]string `yaml:"-"`
	Rules           []struct {
		APIGroups []string `yaml:"apiGroups"`
		Resources []string
		Verbs     []string
	}
	RoleRef  struct{ Kind, Name string } `yaml:"roleRef"`
	Subjects []struct{ Kind, Name string }
}

type k8sContainer struct {
	Name  string
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	Env []struct {
		Name      string
		Value     *string
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
			FieldRef     *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	}
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string
		Port any
	} `yaml:"httpGet"`
}

// k8sObjects reads every object of every YAML file in deploy/k8s.
func k8sObjects(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("deploy/k8s: no YAML files (%v)", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			var raw map[string]any
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			again, _ := yaml.Marshal(raw)
			if err := yaml.Unmarshal(again, &o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "Service" {
				spec, _ := raw["spec"].(map[string]any)
				sel, _ := spec["selector"].(map[string]any)
				o.ServiceSelector = map[string]string{}
				for k, v := range sel {
					o.ServiceSelector[k] = fmt.Sprint(v)
				}
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// dependentVar is Kubernetes' $(NAME) in an env value: NAME defined
// earlier in the same container.
var dependentVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func TestKubernetesManifests(t *testing.T) {
	byKind := map[string][]k8sObject{}
	for _, o := range k8sObjects(t) {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for _, kind := range []string{"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding", "PodDisruptionBudget"} {
		if len(byKind[kind]) != 1 {
			t.Fatalf("deploy/k8s has %d %s objects, want 1", len(byKind[kind]), kind)
		}
	}
	dep := byKind["Deployment"][0]
	pod := dep.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	// The environment: settings only (and helpers another value uses as
	// $(NAME)), secrets from the Secret, and it starts.
	env := map[string]string{}
	used := map[string]bool{}
	for _, e := range c.Env {
		switch {
		case e.Value != nil:
			v := dependentVar.ReplaceAllStringFunc(*e.Value, func(m string) string {
				name := dependentVar.FindStringSubmatch(m)[1]
				used[name] = true
				return env[name]
			})
			env[e.Name] = v
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = deployEnv[e.Name]
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = deployEnv[e.Name]
		default:
			t.Errorf("env %s has neither a value nor a secretKeyRef or fieldRef", e.Name)
		}
		if config.Secret(e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("env %s is a secret but is not taken from a Secret (valueFrom.secretKeyRef)", e.Name)
		}
	}
	for k := range env {
		if !knownSetting(k) && !used[k] {
			t.Errorf("the Deployment sets %s, which is not a setting (see config.Names)", k)
		}
	}
	for k := range used {
		if _, ok := env[k]; !ok {
			t.Errorf("$(%s) is used before it is defined", k)
		}
	}
	delete(env, "POD_IP")
	cfg, err := loadEnv(env)
	if err != nil {
		t.Fatalf("the Deployment's environment does not start: %v", err)
	}
	if cfg.ClusterProvider != "k8s" || cfg.PublicBaseURL == "" {
		t.Errorf("CLUSTER_PROVIDER %q, PUBLIC_BASE_URL %q: want k8s and the public URL", cfg.ClusterProvider, cfg.PublicBaseURL)
	}

	// The probes ask the HTTP port, on the routes the server answers.
	_, httpPort, _ := net.SplitHostPort(cfg.Addr)
	probes := map[string]*k8sProbe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe}
	var paths []string
	for want, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Fatalf("the container lacks its %s probe (httpGet)", want)
		}
		if p.HTTPGet.Path != want {
			t.Errorf("probe on %s, want %s (readiness: /readyz, liveness: /healthz)", p.HTTPGet.Path, want)
		}
		port := fmt.Sprint(p.HTTPGet.Port)
		for _, cp := range c.Ports {
			if cp.Name == port {
				port = fmt.Sprint(cp.ContainerPort)
			}
		}
		if port != httpPort {
			t.Errorf("probe %s on port %s, but SWITCHBOARD_ADDR listens on %s", want, port, httpPort)
		}
		paths = append(paths, p.HTTPGet.Path)
	}
	for p, ok := range served(t, paths) {
		if !ok {
			t.Errorf("probe path %s: the server does not answer 200 there", p)
		}
	}

	// The pods may read, watch and label pods, as the k8s provider does.
	sa, role, binding := byKind["ServiceAccount"][0], byKind["Role"][0], byKind["RoleBinding"][0]
	if pod.Spec.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("the pods run as %q, the ServiceAccount is %q", pod.Spec.ServiceAccountName, sa.Metadata.Name)
	}
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Metadata.Name ||
		len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" || binding.Subjects[0].Name != sa.Metadata.Name {
		t.Errorf("the RoleBinding does not bind Role %s to ServiceAccount %s: %+v", role.Metadata.Name, sa.Metadata.Name, binding)
	}
	granted := map[string]bool{}
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "pods") {
			for _, v := range r.Verbs {
				granted[v] = true
			}
		}
	}
	for _, v := range []string{"get", "list", "watch", "patch"} {
		if !granted[v] {
			t.Errorf("the Role does not grant %s on pods, which the k8s cluster provider needs", v)
		}
	}

	// The Service and the PodDisruptionBudget select the Deployment's pods.
	labels := pod.Metadata.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !matches(dep.Spec.Selector.MatchLabels) || !matches(byKind["Service"][0].ServiceSelector) || !matches(byKind["PodDisruptionBudget"][0].Spec.Selector.MatchLabels) {
		t.Errorf("the Deployment's selector, the Service or the PodDisruptionBudget does not select the pods labelled %v", labels)
	}

	// Twilio posts to the Ingress's host, which must be PUBLIC_BASE_URL's.
	u, _ := url.Parse(cfg.PublicBaseURL)
	for _, ing := range byKind["Ingress"] {
		for _, r := range ing.Spec.Rules {
			if r.Host != u.Hostname() {
				t.Errorf("Ingress host %s, but PUBLIC_BASE_URL is %s", r.Host, cfg.PublicBaseURL)
			}
		}
	}
}

// The image runs as a user of its own, and its health check asks a route
// the server answers, on the port it listens on.
func TestDockerfile(t *testing.T) {
	lines := strings.Split(string(readDeploy(t, "Dockerfile")), "\n")
	// Join continuation lines, drop comments.
	var instr []string
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
		}
		instr = append(instr, l)
	}
	var final []string // the instructions of the last stage
	stages := 0
	for _, l := range instr {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			stages++
			final = nil
		}
		final = append(final, l)
	}
	if stages < 2 {
		t.Errorf("the Dockerfile has %d stage(s), want a build stage and a runtime stage", stages)
	}
	user, check := "", ""
	for _, l := range final {
		word, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(word) {
		case "USER":
			user = strings.TrimSpace(rest)
		case "HEALTHCHECK":
			check = rest
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		t.Errorf("the final stage runs as %q, want a non-root USER", user)
	}
	m := regexp.MustCompile(`http://[^/\s]+:(\d+)(/\S*)`).FindStringSubmatch(check)
	if m == nil {
		t.Fatalf("HEALTHCHECK %q asks no http://host:port/path", check)
	}
	c, err := loadEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(c.Addr); port != m[1] {
		t.Errorf("HEALTHCHECK asks port %s, the server listens on %s by default", m[1], port)
	}
	if ok := served(t, []string{m[2]}); !ok[m[2]] {
		t.Errorf("HEALTHCHECK asks %s: the server does not answer 200 there", m[2])
	}
}

// The README's three nodes without containers start as a cluster: each
// command's environment passes start-up validation, and the nodes agree.
func TestReadmeClusterCommands(t *testing.T) {
	readme := string(readDeploy(t, "README.md"))
	_, after, ok := strings.Cut(readme, "### Three nodes on one machine, without containers")
	if !ok {
		t.Fatal(`README.md has no "Three nodes on one machine, without containers"`)
	}
	_, block, _ := strings.Cut(after, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	shared := map[string]string{}
	var nodes []map[string]string
	for _, l := range strings.Split(block, "\n") {
		l, _, _ = strings.Cut(l, " #")
		l = strings.TrimSpace(l)
		if kv, ok := strings.CutPrefix(l, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(v, "$(") {
				v = deployEnv[k] // a command's output: a generated value
			}
			shared[k] = v
			continue
		}
		words := strings.Fields(l)
		if len(words) < 2 || !slices.Equal(words[len(words)-2:], []string{"./switchboard", "serve"}) {
			continue
		}
		env := maps.Clone(shared)
		for _, w := range words[:len(words)-2] {
			k, v, _ := strings.Cut(w, "=")
			env[k] = v
		}
		nodes = append(nodes, env)
	}
	if len(nodes) != 3 {
		t.Fatalf("the README starts %d nodes, want 3", len(nodes))
	}
	seen := map[string]bool{}
	for i, env := range nodes {
		for k := range env {
			if !knownSetting(k) {
				t.Errorf("node %d: %s is not a setting", i+1, k)
			}
		}
		c, err := loadEnv(env)
		if err != nil {
			t.Errorf("node %d does not start: %v", i+1, err)
			continue
		}
		if c.ClusterProvider == "" || c.PublicBaseURL == "" || !slices.Contains(c.ClusterPeers, c.ClusterMembershipAddr) {
			t.Errorf("node %d: provider %q, PUBLIC_BASE_URL %q, membership %s in peers %v", i+1, c.ClusterProvider, c.PublicBaseURL, c.ClusterMembershipAddr, c.ClusterPeers)
		}
		for _, a := range []string{c.Addr, c.MetricsAddr, c.ClusterAddr, c.ClusterMembershipAddr} {
			if seen[a] {
				t.Errorf("node %d: %s is taken by another node (or another of its listeners)", i+1, a)
			}
			seen[a] = true
		}
	}
}
