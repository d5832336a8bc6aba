package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The cluster settings (docs/architecture.md §10). The options table parses
// each alone; checkCluster then checks them against each other and against
// DATABASE_URL, once every row is read.

// ClusterProviders are the accepted CLUSTER_PROVIDER values besides ""
// (a single node).
var ClusterProviders = []string{"automanaged", "k8s", "consul", "etcd"}

// Bounds of CLUSTER_LEASE_TTL. Under a second a lease would need renewing
// more often than a busy PostgreSQL answers reliably; over a minute a dead
// node's senders would wait that long for a new owner.
const (
	minLeaseTTL = time.Second
	maxLeaseTTL = 60 * time.Second
)

// clusterName is a DNS label: the k8s provider puts the name in a pod label
// value, and it names the cluster in logs and metrics.
var clusterName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func setClusterProvider(c *Config, v string) error {
	if v == "" {
		c.ClusterProvider = ""
		return nil
	}
	return oneOf(&c.ClusterProvider, strings.ToLower(v), ClusterProviders...)
}

func setClusterName(c *Config, v string) error {
	if !clusterName.MatchString(v) {
		return fmt.Errorf("must be 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit, got %q", v)
	}
	c.ClusterName = v
	return nil
}

// setNodeAddr parses the host:port of one node's listener that other
// nodes connect to: "" (unset) or a host they can reach and a port 1-65535.
func setNodeAddr(dst *string, v string) error {
	if v == "" {
		*dst = ""
		return nil
	}
	a, err := nodeAddr(v)
	if err != nil {
		return err
	}
	*dst = a
	return nil
}

// nodeAddr checks one host:port other nodes connect to and returns it
// normalised (as net.JoinHostPort writes it), so that two spellings of one
// address compare equal.
func nodeAddr(v string) (string, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("must be host:port, got %q", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("must be host:port with a port between 1 and 65535, got %q", v)
	}
	if host == "" {
		return "", fmt.Errorf("must name a host the other nodes reach (the address is advertised to them), got %q", v)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsUnspecified() {
			return "", fmt.Errorf("must name a host the other nodes reach, not %s (the address is advertised to them), got %q", host, v)
		}
		host = ip.String()
	} else if strings.ContainsAny(host, " /?#@") {
		return "", fmt.Errorf("must be host:port with a host name or IP address, got %q", v)
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n)), nil
}

func setClusterPeers(c *Config, v string) error {
	c.ClusterPeers = nil
	if v == "" {
		return nil
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			return fmt.Errorf("must be host:port addresses separated by commas, got an empty entry in %q", v)
		}
		a, err := nodeAddr(p)
		if err != nil {
			return fmt.Errorf("entry %q: %w", p, err)
		}
		if seen[a] {
			return fmt.Errorf("lists %s twice", a)
		}
		seen[a] = true
		c.ClusterPeers = append(c.ClusterPeers, a)
	}
	return nil
}

// endpoint checks the address of a service the node connects to (Consul,
// etcd): host:port, or an http(s) URL with nothing after host:port.
func endpoint(v string) error {
	hostport := v
	if scheme, rest, ok := strings.Cut(v, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return fmt.Errorf("must be host:port or http(s)://host:port, got %q", v)
		}
		hostport = strings.TrimSuffix(rest, "/")
	}
	host, port, err := net.SplitHostPort(hostport)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 || strings.ContainsAny(host, " /?#@") {
		return fmt.Errorf("must be host:port or http(s)://host:port with a port between 1 and 65535, got %q", v)
	}
	return nil
}

func setConsulAddr(c *Config, v string) error {
	if v != "" {
		if err := endpoint(v); err != nil {
			return err
		}
	}
	c.ClusterConsulAddr = v
	return nil
}

func setEtcdEndpoints(c *Config, v string) error {
	c.ClusterEtcdEndpoints = nil
	if v == "" {
		return nil
	}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if err := endpoint(e); err != nil {
			return fmt.Errorf("entry %q: %w", e, err)
		}
		c.ClusterEtcdEndpoints = append(c.ClusterEtcdEndpoints, e)
	}
	return nil
}

func setLeaseTTL(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < minLeaseTTL || d > maxLeaseTTL {
		return fmt.Errorf("must be a duration between %v and %v, such as 3s or 1500ms, got %q", minLeaseTTL, maxLeaseTTL, v)
	}
	c.ClusterLeaseTTL = d
	return nil
}

// checkCluster checks the cluster settings against each other and against
// DATABASE_URL. Every problem is reported, each naming its variable.
func (c *Config) checkCluster() error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: "+format, args...))
	}
	if c.ClusterProvider == "" {
		// A node-only setting without a provider is a cluster member that
		// forgot to join: it would run alone beside the others on the
		// same database, which is what the cluster's fencing is for.
		set := append([]providerSetting{{"CLUSTER_ADDR", "", c.ClusterAddr}}, providerOnly(c)...)
		for _, s := range set {
			if s.v != "" {
				fail("%s is set but CLUSTER_PROVIDER is empty (a single node): set CLUSTER_PROVIDER, or unset %s", s.name, s.name)
			}
		}
		return errors.Join(errs...)
	}
	if c.PostgresURL == "" {
		// The URL itself is secret: only its kind is named.
		fail("CLUSTER_PROVIDER=%s needs PostgreSQL, which all the nodes share: set DATABASE_URL=postgres://… (a SQLite file belongs to one server)", c.ClusterProvider)
	}
	if c.ClusterAddr == "" {
		fail("CLUSTER_ADDR is required with CLUSTER_PROVIDER=%s: the host:port of this node's actor remote, reachable by the other nodes", c.ClusterProvider)
	}
	if c.ClusterProvider == "automanaged" {
		switch {
		case c.ClusterMembershipAddr == "":
			fail("CLUSTER_MEMBERSHIP_ADDR is required with CLUSTER_PROVIDER=automanaged: the host:port of this node's membership endpoint, as listed in CLUSTER_PEERS")
		case len(c.ClusterPeers) == 0:
			fail("CLUSTER_PEERS is required with CLUSTER_PROVIDER=automanaged: the CLUSTER_MEMBERSHIP_ADDR of every node, this one included")
		case !slices.Contains(c.ClusterPeers, c.ClusterMembershipAddr):
			fail("CLUSTER_PEERS (%s) must include this node's CLUSTER_MEMBERSHIP_ADDR %s", strings.Join(c.ClusterPeers, ","), c.ClusterMembershipAddr)
		}
		// Proto.Actor's automanaged provider listens on the membership
		// port on every interface, whatever the host: the two ports must
		// differ even where the hosts do.
		_, mport, _ := net.SplitHostPort(c.ClusterMembershipAddr)
		_, aport, _ := net.SplitHostPort(c.ClusterAddr)
		if c.ClusterMembershipAddr != "" && mport == aport {
			fail("CLUSTER_MEMBERSHIP_ADDR (%s) and CLUSTER_ADDR (%s) have the same port: they are two listeners and need two ports", c.ClusterMembershipAddr, c.ClusterAddr)
		}
	}
	if c.ClusterProvider == "etcd" && len(c.ClusterEtcdEndpoints) == 0 {
		fail("CLUSTER_ETCD_ENDPOINTS is required with CLUSTER_PROVIDER=etcd: the etcd client endpoints, comma-separated")
	}
	// A setting of another provider is a mistake in the deployment: say so
	// rather than ignore it.
	for _, s := range providerOnly(c) {
		if s.v != "" && s.provider != c.ClusterProvider {
			fail("%s is only read with CLUSTER_PROVIDER=%s (it is %s): unset it", s.name, s.provider, c.ClusterProvider)
		}
	}
	return errors.Join(errs...)
}

// providerSetting is a setting only one provider reads, and its value.
type providerSetting struct{ name, provider, v string }

func providerOnly(c *Config) []providerSetting {
	return []providerSetting{
		{"CLUSTER_MEMBERSHIP_ADDR", "automanaged", c.ClusterMembershipAddr},
		{"CLUSTER_PEERS", "automanaged", strings.Join(c.ClusterPeers, ",")},
		{"CLUSTER_CONSUL_ADDR", "consul", c.ClusterConsulAddr},
		{"CLUSTER_ETCD_ENDPOINTS", "etcd", strings.Join(c.ClusterEtcdEndpoints, ",")},
	}
}
